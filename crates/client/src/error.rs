//! [`ClientError`] and the parsing of Neutron and Keystone error bodies.

use serde_json::Value;

/// Everything that can go wrong talking to the server. `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Missing or invalid configuration (e.g. `OS_AUTH_URL` is not set).
    #[error("{0}")]
    Config(String),
    /// The server could not be reached or the connection failed.
    #[error("{0}")]
    Transport(String),
    /// Login failed.
    #[error("{0}")]
    Auth(String),
    /// The server answered with an error status.
    #[error("{status} {kind}: {message}")]
    Api {
        status: u16,
        kind: String,
        message: String,
    },
    /// The server's answer was not the JSON expected.
    #[error("{0}")]
    Decode(String),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// An `Api` error from a status and a response body: Neutron's
    /// `{"NeutronError": {"type", "message"}}`, Keystone's
    /// `{"error": {"message", "title"}}`, or whatever text came.
    pub fn from_response(status: u16, body: &[u8]) -> ClientError {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_string();
        let doc: Option<Value> = serde_json::from_slice(body).ok();
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(one_line);
        if let Some(doc) = &doc {
            if let Some(e) = doc.get("NeutronError") {
                // Neutron sometimes sends the error as a bare string.
                if let Some(s) = e.as_str() {
                    return api(status, reason, one_line(s));
                }
                return api(
                    status,
                    text(e, "type").unwrap_or(reason),
                    text(e, "message").unwrap_or_default(),
                );
            }
            if let Some(e) = doc.get("error") {
                return api(
                    status,
                    text(e, "title").unwrap_or(reason),
                    text(e, "message").unwrap_or_default(),
                );
            }
            if let Some(m) = text(doc, "message") {
                return api(status, reason, m);
            }
        }
        let raw = String::from_utf8_lossy(body);
        let mut message = one_line(raw.trim());
        if message.chars().count() > 200 {
            message = message.chars().take(200).collect::<String>() + "…";
        }
        if message.is_empty() {
            message = reason.clone();
        }
        api(status, reason, message)
    }
}

fn api(status: u16, kind: String, message: String) -> ClientError {
    ClientError::Api {
        status,
        kind,
        message,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A failed request as a one-line `Transport` error: what could not be reached
/// and the innermost cause (`Connection refused (os error 111)`).
pub(crate) fn transport(e: &reqwest::Error) -> ClientError {
    let url = e
        .url()
        .map(|u| u.to_string())
        .unwrap_or_else(|| "the server".into());
    let mut root: &dyn std::error::Error = e;
    while let Some(s) = root.source() {
        root = s;
    }
    let cause = one_line(&root.to_string());
    ClientError::Transport(if e.is_timeout() {
        format!("request to {url} timed out")
    } else if e.is_connect() {
        format!("cannot connect to {url}: {cause}")
    } else {
        format!("request to {url} failed: {}", chain(e))
    })
}

/// An error and its sources on one line (`a: b: c`), without repeats.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    one_line(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutron_error() {
        let e = ClientError::from_response(
            404,
            br#"{"NeutronError": {"type": "NetworkNotFound", "message": "Network abc could not be found.", "detail": ""}}"#,
        );
        assert_eq!(
            e.to_string(),
            "404 NetworkNotFound: Network abc could not be found."
        );
        assert_eq!(e.status(), Some(404));
    }

    #[test]
    fn keystone_error() {
        let e = ClientError::from_response(
            401,
            br#"{"error": {"code": 401, "message": "The request you have made\nrequires authentication.", "title": "Unauthorized"}}"#,
        );
        assert_eq!(
            e,
            ClientError::Api {
                status: 401,
                kind: "Unauthorized".into(),
                message: "The request you have made requires authentication.".into()
            }
        );
    }

    #[test]
    fn other_bodies() {
        let e = ClientError::from_response(502, b"");
        assert_eq!(e.to_string(), "502 Bad Gateway: Bad Gateway");
        let e = ClientError::from_response(500, b"boom\nsplat");
        assert_eq!(e.to_string(), "500 Internal Server Error: boom splat");
        let e = ClientError::from_response(409, br#"{"NeutronError": "in use"}"#);
        assert_eq!(e.to_string(), "409 Conflict: in use");
        let e = ClientError::from_response(400, br#"{"message": "bad"}"#);
        assert_eq!(e.to_string(), "400 Bad Request: bad");
        assert_eq!(ClientError::Config("x".into()).status(), None);
    }
}
