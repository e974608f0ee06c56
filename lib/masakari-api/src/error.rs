//! How a request failed, in the terms the agents decide on.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Network error, timeout or 5xx: worth trying again later.
    Transient(String),
    /// The service answered and refused (or redirected); trying again will not help.
    Refused(u16, String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(m) => write!(f, "{m}"),
            Failure::Refused(code, m) => write!(f, "HTTP {code}: {m}"),
        }
    }
}

impl Failure {
    /// The same failure with `what` (`keystone http://...`) in front of its message.
    pub fn about(self, what: &str) -> Failure {
        match self {
            Failure::Transient(m) => Failure::Transient(format!("{what}: {m}")),
            Failure::Refused(c, m) => Failure::Refused(c, format!("{what}: {m}")),
        }
    }
}

/// An OpenStack error body: `{"conflictingRequest": {"code": 409, "message": "..."}}`.
#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

/// The message of an OpenStack error body, or the start of the body (one line).
pub fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<std::collections::BTreeMap<String, ErrorDetail>>(body)
        .ok()
        .and_then(|m| m.into_values().find_map(|d| d.message));
    from_json
        .unwrap_or_else(|| body.chars().take(200).collect())
        .replace(['\n', '\r'], " ")
}

/// A non-2xx status as a failure: 5xx, 408 and 429 are transient, the rest refusals.
pub fn classify(code: u16, body: &str) -> Failure {
    let message = error_message(body);
    if code >= 500 || code == 408 || code == 429 {
        Failure::Transient(format!("HTTP {code}: {message}"))
    } else {
        Failure::Refused(code, message)
    }
}
