//! URL rules: the auth URL normalised to end in `/v3`, the root of a URL, and
//! where a request path goes (network endpoint, identity root, or as given).

use crate::ClientError;

/// `http://h:5000`, `http://h:5000/`, `http://h:5000/v3/` -> `http://h:5000/v3`.
pub(crate) fn normalise_auth_url(auth_url: &str) -> Result<String, ClientError> {
    let u = auth_url.trim().trim_end_matches('/');
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(ClientError::Config(format!(
            "OS_AUTH_URL must be an http:// or https:// URL, not {auth_url:?}"
        )));
    }
    if reqwest::Url::parse(u).is_err() {
        return Err(ClientError::Config(format!(
            "OS_AUTH_URL is not a valid URL: {auth_url:?}"
        )));
    }
    Ok(if u.ends_with("/v3") {
        u.to_string()
    } else {
        format!("{u}/v3")
    })
}

/// `scheme://host:port` of a URL.
pub(crate) fn root_of(url: &str) -> Result<String, ClientError> {
    let u = reqwest::Url::parse(url)
        .map_err(|e| ClientError::Config(format!("invalid URL {url:?}: {e}")))?;
    let host = u
        .host_str()
        .ok_or_else(|| ClientError::Config(format!("URL {url:?} has no host")))?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

fn concat(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if path.is_empty() {
        return base.to_string();
    }
    format!("{base}/{}", path.trim_start_matches('/'))
}

/// Where `path` goes: absolute http(s) URLs as they are; `/v3…` to the identity
/// endpoint's root; everything else to the network endpoint.
pub(crate) fn join(network_url: &str, identity_url: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    let rel = path.trim_start_matches('/');
    if rel == "v3" || rel.starts_with("v3/") || rel.starts_with("v3?") {
        let id = identity_url.trim_end_matches('/');
        let root = id.strip_suffix("/v3").unwrap_or(id);
        return concat(root, path);
    }
    concat(network_url, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise() {
        for u in [
            "http://h:5000",
            "http://h:5000/",
            "http://h:5000/v3",
            "http://h:5000/v3/",
        ] {
            assert_eq!(normalise_auth_url(u).unwrap(), "http://h:5000/v3", "{u}");
        }
        assert_eq!(
            normalise_auth_url("https://k.example/identity").unwrap(),
            "https://k.example/identity/v3"
        );
        assert!(matches!(
            normalise_auth_url("h:5000"),
            Err(ClientError::Config(_))
        ));
    }

    #[test]
    fn roots() {
        assert_eq!(root_of("http://h:9696/v3").unwrap(), "http://h:9696");
        assert_eq!(root_of("https://h/identity/v3").unwrap(), "https://h");
        assert_eq!(
            root_of("http://[::1]:9696/v3").unwrap(),
            "http://[::1]:9696"
        );
    }

    #[test]
    fn joining() {
        let net = "http://n:9696";
        let id = "http://k:5000/identity/v3";
        assert_eq!(
            join(net, id, "/v2.0/networks"),
            "http://n:9696/v2.0/networks"
        );
        assert_eq!(
            join("http://n:9696/", id, "v2.0/ports"),
            "http://n:9696/v2.0/ports"
        );
        assert_eq!(
            join(net, id, "/v3/projects"),
            "http://k:5000/identity/v3/projects"
        );
        assert_eq!(join(net, id, "/v3"), "http://k:5000/identity/v3");
        assert_eq!(join(net, id, "/v30/x"), "http://n:9696/v30/x");
        assert_eq!(join(net, id, "https://x/y"), "https://x/y");
        assert_eq!(join(net, id, ""), "http://n:9696");
    }
}
