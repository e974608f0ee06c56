//! The deep (depth 20) monitor: a real request through haproxy, as a client would make it.
//!
//! Only `http://` and `tcp://` are supported. A one-request HTTP/1.0 client is a few lines, it
//! keeps the agent free of an async runtime and TLS stack in a binary that runs every few
//! seconds; use `tcp://` for TLS frontends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckUrl {
    Tcp {
        host: String,
        port: u16,
    },
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

/// What the probe found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// haproxy answered, but with an error status (its backends cannot serve).
    Degraded(String),
    Failed(String),
}

fn host_port(authority: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    // [v6]:port, host:port, or host alone when the scheme has a default port.
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unterminated [ in address")?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| format!("bad port '{p}'"))?,
        None => default_port.ok_or("a port is required")?,
    };
    Ok((host, port))
}

impl CheckUrl {
    pub fn parse(url: &str) -> Result<CheckUrl, String> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("tcp://") {
            let (host, port) = host_port(rest.trim_end_matches('/'), None)?;
            Ok(CheckUrl::Tcp { host, port })
        } else if let Some(rest) = url.strip_prefix("http://") {
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("the path must not contain spaces or control characters".into());
            }
            let (host, port) = host_port(authority, Some(80))?;
            Ok(CheckUrl::Http {
                host,
                port,
                path: path.to_string(),
            })
        } else {
            Err("expected http://host[:port]/path or tcp://host:port".into())
        }
    }

    fn address(&self) -> Result<SocketAddr, String> {
        let (host, port) = match self {
            CheckUrl::Tcp { host, port } | CheckUrl::Http { host, port, .. } => (host, *port),
        };
        (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} has no address"))
    }

    /// Connects (and for HTTP sends one GET) within `timeout`.
    pub fn probe(&self, timeout: Duration) -> Outcome {
        let timeout = timeout.max(Duration::from_millis(10));
        let addr = match self.address() {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e),
        };
        let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("connect to {addr}: {e}")),
        };
        let CheckUrl::Http { host, path, .. } = self else {
            return Outcome::Ok(format!("{addr} accepts connections"));
        };
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: oxha-haproxy-monitor\r\nConnection: close\r\n\r\n"
        );
        if let Err(e) = stream.write_all(request.as_bytes()) {
            return Outcome::Failed(format!("sending the request to {addr}: {e}"));
        }
        // The status line is all we need; read until it is complete.
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.contains(&b'\n') && head.len() < 4096 {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) => return Outcome::Failed(format!("reading the answer from {addr}: {e}")),
            }
        }
        let text = String::from_utf8_lossy(&head);
        let status_line = text.lines().next().unwrap_or("").trim().to_string();
        let code = status_line
            .strip_prefix("HTTP/")
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(c) if c < 500 => Outcome::Ok(format!("GET {path} on {addr}: {status_line}")),
            Some(_) => Outcome::Degraded(format!("GET {path} on {addr} answered '{status_line}'")),
            None => Outcome::Failed(format!("GET {path} on {addr}: no HTTP answer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            CheckUrl::parse("http://127.0.0.1:8080/health"),
            Ok(CheckUrl::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/health".into()
            })
        );
        assert_eq!(
            CheckUrl::parse("http://localhost"),
            Ok(CheckUrl::Http {
                host: "localhost".into(),
                port: 80,
                path: "/".into()
            })
        );
        assert_eq!(
            CheckUrl::parse("tcp://[::1]:443"),
            Ok(CheckUrl::Tcp {
                host: "::1".into(),
                port: 443
            })
        );
        for bad in [
            "tcp://host",
            "https://x/",
            "http://:80/",
            "http://h:99999/",
            "ftp://x",
            "http://h/a b",
        ] {
            assert!(CheckUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
