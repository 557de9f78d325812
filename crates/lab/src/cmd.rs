//! Running a program the way the lab and the tests need it: with a timeout after
//! which it is killed, its output captured, and what happened (exit status, time
//! out, or not started at all) kept together with the command line, so a failure can
//! be described in full. Also the tail of a log file, for the same descriptions.

use crate::{LabError, Result};
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Upper bound for any single `ip` or CLI invocation.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// What running one command came to.
#[derive(Debug)]
pub struct Run {
    pub cmdline: String,
    /// None if the command timed out and was killed, or could not be started.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// Why the command could not be started or waited for, if it could not.
    pub error: Option<String>,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The command, its status and its output, for a failure message.
    pub fn describe(&self) -> String {
        let status = match (self.status, &self.error) {
            (Some(s), _) => format!("{s}"),
            (None, Some(e)) => format!("NOT RUN ({e})"),
            (None, None) => "TIMED OUT (killed)".to_string(),
        };
        format!(
            "$ {}\n  status: {status}\n  stdout: {}\n  stderr: {}",
            self.cmdline,
            indent(self.stdout.trim_end()),
            indent(self.stderr.trim_end())
        )
    }

    /// The run itself if it succeeded, else an error describing it in full.
    pub fn check(self) -> Result<Run> {
        if self.ok() {
            Ok(self)
        } else {
            Err(LabError(format!("command failed:\n{}", self.describe())))
        }
    }

    /// For tests: panics with the full command, status and output unless it
    /// succeeded.
    pub fn expect_ok(self) -> Self {
        if !self.ok() {
            panic!("command failed:\n{}", self.describe());
        }
        self
    }
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n          ")
}

/// Runs `program args...`, feeding `stdin` if given, killing it after `timeout`.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>, timeout: Duration) -> Run {
    let cmdline = std::iter::once(program)
        .chain(args.iter().copied())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    let not_run = |cmdline: String, e: String| Run {
        cmdline,
        status: None,
        stdout: String::new(),
        stderr: String::new(),
        error: Some(e),
    };
    let spawned = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return not_run(cmdline, format!("cannot start {program}: {e}")),
    };

    let writer = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => {
            let input = input.to_owned();
            Some(thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
                // dropping `pipe` closes it: EOF for the child
            }))
        }
        _ => None,
    };
    let out_reader = child.stdout.take().map(reader_thread);
    let err_reader = child.stderr.take().map(reader_thread);

    let deadline = Instant::now() + timeout;
    let (status, error) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), None),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, None);
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, Some(format!("cannot wait for {program}: {e}")));
            }
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let collect =
        |r: Option<thread::JoinHandle<String>>| r.and_then(|h| h.join().ok()).unwrap_or_default();
    Run {
        cmdline,
        status,
        stdout: collect(out_reader),
        stderr: collect(err_reader),
        error,
    }
}

fn reader_thread(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// `s` as a shell word (quoted only when it must be), for printing command lines.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Last `n` lines of a file (or a note that it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    match fs::read_to_string(path) {
        Ok(s) => {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_feeds_and_times_out() {
        let r = run("cat", &[], Some("hello\n"), Duration::from_secs(10));
        assert!(r.ok(), "{}", r.describe());
        assert_eq!(r.stdout, "hello\n");
        let r = run("sleep", &["5"], None, Duration::from_millis(100));
        assert!(!r.ok() && r.status.is_none() && r.error.is_none());
        assert!(r.describe().contains("TIMED OUT"));
        let r = run("/nonexistent/prog", &["a b"], None, CMD_TIMEOUT);
        assert!(!r.ok() && r.error.is_some());
        assert!(r.describe().contains("'a b'"), "{}", r.describe());
        assert!(r.check().is_err());
    }
}
