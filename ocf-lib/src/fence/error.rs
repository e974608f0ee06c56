//! How a fence action fails: fencing.py's `EC_*` classes, each one line for the fencer's log.

use crate::params::ParamError;
use std::fmt;

/// The failure classes of fencing.py (`EC_*`); all of them exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceErrorKind {
    /// Bad or missing options.
    Config,
    /// Could not connect, or credentials refused.
    LoginDenied,
    ConnectionLost,
    /// A wait or a request ran out of time (`power_timeout`, `shell_timeout`, `total_timeout`).
    TimedOut,
    /// Status could not be read, or the plug does not exist / is ambiguous.
    Status,
    /// The device refused or could not carry out the power change.
    PowerFailed,
    /// The agent has no such operation (`list` on a single-plug device).
    Unsupported,
    /// The agent refuses to act here (a notifier outside its place in the fencing topology).
    Refused,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceError {
    pub kind: FenceErrorKind,
    pub message: String,
}

impl FenceError {
    pub fn new(kind: FenceErrorKind, message: impl Into<String>) -> Self {
        FenceError {
            kind,
            message: message.into().replace(['\n', '\r'], " "),
        }
    }
    pub fn config(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::Config, m)
    }
    pub fn login(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::LoginDenied, m)
    }
    pub fn connection(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::ConnectionLost, m)
    }
    pub fn timed_out(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::TimedOut, m)
    }
    pub fn status(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::Status, m)
    }
    pub fn power(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::PowerFailed, m)
    }
    pub fn unsupported(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::Unsupported, m)
    }
    pub fn refused(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::Refused, m)
    }
}

impl fmt::Display for FenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FenceError {}

impl From<ParamError> for FenceError {
    fn from(e: ParamError) -> Self {
        FenceError::config(e.to_string())
    }
}
