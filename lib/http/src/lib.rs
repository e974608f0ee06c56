//! The one HTTP client policy of the oxha agents (fence_maas, the Masakari and keystone client).
//!
//! An agent talks to one configured endpoint, with credentials, on a path that decides whether
//! a node is considered dead. So:
//!
//! * **No redirects.** A 3xx is an answer like any other error; the request is never repeated
//!   elsewhere (with an `Authorization` or `X-Auth-Token` header, or a password in its body).
//! * **No proxy unless a parameter names one.** `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
//!   `NO_PROXY` in the agent's environment are never consulted: the cluster's environment is
//!   not the agent's configuration.
//! * **Timeouts**: one to connect, one for a whole request; callers cut a request's timeout to
//!   what is left of their own deadline.
//! * **Trust**: the system's CA store (`/etc/ssl/certs`, where Charmed OpenStack installs the
//!   Vault CA), plus a CA bundle file when configured; certificate checks off only when asked.
//! * **URLs with userinfo** (`https://user:pass@host/`) are refused: a credential in a URL ends
//!   up in the CIB in clear and in every error message.

pub use reqwest;

use reqwest::blocking::{Client, Response};
use reqwest::Url;
use std::time::Duration;

/// How a client is built; see the crate documentation for what is fixed.
#[derive(Clone, Debug)]
pub struct Policy {
    pub user_agent: String,
    /// Time allowed to establish a connection (TCP and TLS); zero: none.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request unless the caller sets less; zero: none.
    pub timeout: Duration,
    /// A PEM bundle of CAs trusted besides the system store.
    pub ca_pem: Option<Vec<u8>>,
    /// Where `ca_pem` came from, for error messages.
    pub ca_origin: String,
    /// Accept any certificate.
    pub insecure: bool,
    /// The proxy a parameter names, if any.
    pub proxy: Option<String>,
    /// Load the system's CA store. Reading it costs a few milliseconds of CPU per invocation
    /// (hundreds of files), so a client that will only ever speak plain HTTP turns it off.
    pub system_roots: bool,
}

impl Policy {
    pub fn new(user_agent: impl Into<String>) -> Policy {
        Policy {
            user_agent: user_agent.into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            ca_pem: None,
            ca_origin: String::new(),
            insecure: false,
            proxy: None,
            system_roots: true,
        }
    }

    /// Adds the CA bundle in `path` (read now, so a missing file is a configuration error).
    pub fn ca_file(mut self, path: &str, what: &str) -> Result<Policy, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{what} {path}: {e}"))?;
        self.ca_pem = Some(pem);
        self.ca_origin = format!("{what} {path}");
        Ok(self)
    }

    /// Builds the client.
    pub fn client(&self) -> Result<Client, String> {
        let mut builder = Client::builder()
            .user_agent(self.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            // Clears the proxies taken from the environment; a configured one is added below.
            .no_proxy()
            .tls_built_in_root_certs(self.system_roots)
            .timeout((!self.timeout.is_zero()).then_some(self.timeout));
        if !self.connect_timeout.is_zero() {
            builder = builder.connect_timeout(self.connect_timeout);
        }
        if let Some(proxy) = &self.proxy {
            let url = check_url(proxy, "proxy")?;
            let proxy = reqwest::Proxy::all(url)
                .map_err(|e| format!("proxy {}: {e}", without_userinfo(proxy)))?;
            builder = builder.proxy(proxy);
        }
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("{}: not a PEM certificate bundle: {e}", self.ca_origin))?;
            if certs.is_empty() {
                return Err(format!("{}: no certificate in it", self.ca_origin));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", error_chain(&e)))
    }
}

/// `text` without the `user:password@` part, for messages about a URL that had one.
fn without_userinfo(text: &str) -> String {
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => text.to_string(),
            }
        }
        None => text.to_string(),
    }
}

/// Parses an endpoint URL: http or https, a host, no userinfo. `what` names the parameter.
pub fn check_url(text: &str, what: &str) -> Result<Url, String> {
    let shown = without_userinfo(text.trim());
    let lower = text.trim().to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "{what} '{shown}' must start with http:// or https://"
        ));
    }
    let url = Url::parse(text.trim()).map_err(|e| format!("{what} '{shown}': {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{what} '{shown}' contains a user name or password: credentials do not belong in a URL (they end up in the CIB in clear); use the credential parameters"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{what} '{shown}' has no host"));
    }
    Ok(url)
}

/// A transport error with its causes ("connection refused", "timed out", certificate
/// problems), one line. reqwest's messages hold the URL, never a header or a body.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text.replace(['\n', '\r'], " ")
}

/// For a 3xx answer, why it is not followed: `HTTP 307 redirect to <Location> refused`.
pub fn refused_redirect(resp: &Response) -> Option<String> {
    let status = resp.status();
    if !status.is_redirection() {
        return None;
    }
    let to = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(|l| format!(" to {}", without_userinfo(l)))
        .unwrap_or_default();
    Some(format!(
        "HTTP {} redirect{to} refused (redirects are never followed: point the URL at the endpoint itself)",
        status.as_u16()
    ))
}

#[cfg(test)]
mod tests;
