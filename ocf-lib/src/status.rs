//! OCF exit codes and the error type every agent action returns.

use std::fmt;

/// OCF 1.1 exit codes. Pacemaker maps anything else to 1, so nothing else is ever emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OcfStatus {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrPerm = 4,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
    RunningPromoted = 8,
    FailedPromoted = 9,
    Degraded = 190,
    DegradedPromoted = 191,
}

impl OcfStatus {
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The spec's symbolic name, as shell agents and Pacemaker logs spell it.
    pub const fn name(self) -> &'static str {
        match self {
            OcfStatus::Success => "OCF_SUCCESS",
            OcfStatus::ErrGeneric => "OCF_ERR_GENERIC",
            OcfStatus::ErrArgs => "OCF_ERR_ARGS",
            OcfStatus::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            OcfStatus::ErrPerm => "OCF_ERR_PERM",
            OcfStatus::ErrInstalled => "OCF_ERR_INSTALLED",
            OcfStatus::ErrConfigured => "OCF_ERR_CONFIGURED",
            OcfStatus::NotRunning => "OCF_NOT_RUNNING",
            OcfStatus::RunningPromoted => "OCF_RUNNING_PROMOTED",
            OcfStatus::FailedPromoted => "OCF_FAILED_PROMOTED",
            OcfStatus::Degraded => "OCF_DEGRADED",
            OcfStatus::DegradedPromoted => "OCF_DEGRADED_PROMOTED",
        }
    }

    pub fn from_code(code: i32) -> Option<OcfStatus> {
        ALL.iter().copied().find(|s| i32::from(s.code()) == code)
    }
}

const ALL: [OcfStatus; 12] = [
    OcfStatus::Success,
    OcfStatus::ErrGeneric,
    OcfStatus::ErrArgs,
    OcfStatus::ErrUnimplemented,
    OcfStatus::ErrPerm,
    OcfStatus::ErrInstalled,
    OcfStatus::ErrConfigured,
    OcfStatus::NotRunning,
    OcfStatus::RunningPromoted,
    OcfStatus::FailedPromoted,
    OcfStatus::Degraded,
    OcfStatus::DegradedPromoted,
];

impl fmt::Display for OcfStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// An outcome that carries a reason for the operator: every non-success exit, and the
/// success-like codes that still deserve an explanation (degraded, not running).
///
/// The reason becomes the `ocf-exit-reason:` line Pacemaker shows in `crm_mon`, so it is one
/// line and names the thing that is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcfError {
    pub status: OcfStatus,
    pub reason: String,
}

impl OcfError {
    pub fn new(status: OcfStatus, reason: impl Into<String>) -> Self {
        // Pacemaker keeps an exit reason only up to the end of its line.
        let reason = reason.into().replace(['\n', '\r'], " ");
        OcfError { status, reason }
    }
    pub fn generic(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrGeneric, reason)
    }
    pub fn args(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrArgs, reason)
    }
    pub fn unimplemented(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrUnimplemented, reason)
    }
    pub fn perm(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrPerm, reason)
    }
    pub fn installed(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrInstalled, reason)
    }
    pub fn configured(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrConfigured, reason)
    }
    pub fn not_running(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::NotRunning, reason)
    }
    pub fn degraded(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::Degraded, reason)
    }
}

impl fmt::Display for OcfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reason)
    }
}

impl std::error::Error for OcfError {}

/// What an action returns: a plain status, or a status with its reason.
pub type OcfResult = Result<OcfStatus, OcfError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec() {
        let table = [
            (OcfStatus::Success, 0),
            (OcfStatus::ErrGeneric, 1),
            (OcfStatus::ErrArgs, 2),
            (OcfStatus::ErrUnimplemented, 3),
            (OcfStatus::ErrPerm, 4),
            (OcfStatus::ErrInstalled, 5),
            (OcfStatus::ErrConfigured, 6),
            (OcfStatus::NotRunning, 7),
            (OcfStatus::RunningPromoted, 8),
            (OcfStatus::FailedPromoted, 9),
            (OcfStatus::Degraded, 190),
            (OcfStatus::DegradedPromoted, 191),
        ];
        for (status, code) in table {
            assert_eq!(status.code(), code);
            assert_eq!(OcfStatus::from_code(i32::from(code)), Some(status));
        }
        assert_eq!(OcfStatus::from_code(10), None);
        assert_eq!(OcfStatus::from_code(-1), None);
    }

    #[test]
    fn reasons_are_one_line() {
        let e = OcfError::generic("first\nsecond\r\nthird");
        assert_eq!(e.reason, "first second  third");
    }
}
