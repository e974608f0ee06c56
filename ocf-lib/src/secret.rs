//! A value that must never be shown: passwords, API keys, tokens.
//!
//! `Debug` and `Display` print `****`, so a secret inside a struct that is logged or put in an
//! error message stays hidden; the value is registered with the log redactor when it is made,
//! so even a copy taken with [`Secret::expose`] is hidden from every log line; and the memory
//! is wiped when the value is dropped.

use std::fmt;
use zeroize::Zeroize;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        crate::log::register_secret(&value);
        Secret(value)
    }

    /// The value itself, for the one place that must send it (a header, a request body).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_redacted_from_logs() {
        let s = Secret::new("hunter2-but-longer");
        assert_eq!(format!("{s}"), "****");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(****))");
        assert_eq!(s.expose(), "hunter2-but-longer");
        assert_eq!(
            crate::log::redact("token hunter2-but-longer here"),
            "token **** here"
        );
    }
}
