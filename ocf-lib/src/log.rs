//! Logging the way `ocf_log` does it, without forking `logger`.
//!
//! * standard error, always (Pacemaker captures it and logs it with the operation),
//!   `LEVEL: message`; debug lines only when `HA_debug=1` or the agent asked for verbose output;
//! * syslog (the `/dev/log` datagram socket) when `HA_LOGFACILITY` names a facility;
//! * `HA_LOGFILE` (and `HA_DEBUGLOG` for debug lines) appended when set.
//!
//! Every line passes through the redactor first: any value registered with
//! [`register_secret`] (parameters declared `.secret()` are registered as they are read) is
//! replaced by `****` wherever it appears, so a secret cannot reach a log by accident.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Err,
    Crit,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Err => "ERROR",
            Level::Crit => "CRIT",
        }
    }
    fn syslog_severity(self) -> u8 {
        match self {
            Level::Debug => 7,
            Level::Info => 6,
            Level::Warn => 4,
            Level::Err => 3,
            Level::Crit => 2,
        }
    }
}

struct Config {
    tag: String,
    debug: bool,
    stderr: bool,
    facility: Option<u8>,
    logfile: Option<String>,
    debuglog: Option<String>,
}

static CONFIG: Mutex<Option<Config>> = Mutex::new(None);
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn facility_code(name: &str) -> Option<u8> {
    let code = match name.trim().to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    };
    Some(code)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Sets the tag (`vip(vip1)`, `fence_maas`) and reads the `HA_*` logging variables.
pub fn init(tag: impl Into<String>) {
    let debug = env("HA_debug").is_some_and(|v| v != "0" && v != "false");
    let facility = env("HA_LOGFACILITY")
        .or_else(|| env("HA_logfacility"))
        .and_then(|f| facility_code(&f));
    let config = Config {
        tag: tag.into(),
        debug,
        stderr: true,
        facility,
        logfile: env("HA_LOGFILE").or_else(|| env("HA_logfile")),
        debuglog: env("HA_DEBUGLOG").or_else(|| env("HA_debugfile")),
    };
    if let Ok(mut c) = CONFIG.lock() {
        *c = Some(config);
    }
}

/// Turns debug lines on standard error on or off (fence `verbose`).
pub fn set_debug(on: bool) {
    if let Ok(mut c) = CONFIG.lock() {
        if let Some(c) = c.as_mut() {
            c.debug = on;
        }
    }
}

/// Silences standard error (fence `quiet`); syslog and log files still receive every line.
pub fn set_stderr(on: bool) {
    if let Ok(mut c) = CONFIG.lock() {
        if let Some(c) = c.as_mut() {
            c.stderr = on;
        }
    }
}

/// Adds an extra log file (fence `debug_file`) that receives every line, debug included.
pub fn set_debug_file(path: impl Into<String>) {
    if let Ok(mut c) = CONFIG.lock() {
        if let Some(c) = c.as_mut() {
            c.debuglog = Some(path.into());
        }
    }
}

/// Registers a value that must never appear in any log line or error message.
pub fn register_secret(secret: &str) {
    // Very short values would blank out ordinary words; they are no real secret either.
    if secret.len() < 4 {
        return;
    }
    if let Ok(mut s) = SECRETS.lock() {
        if !s.iter().any(|known| known == secret) {
            s.push(secret.to_string());
            // Longest first, so a secret that contains another is hidden whole.
            s.sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }
}

/// Replaces every registered secret in `text` by `****`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(secrets) = SECRETS.lock() {
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "****");
            }
        }
    }
    out
}

fn append(path: &str, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Writes one log line to every configured sink.
pub fn log(level: Level, message: &str) {
    let message = redact(message);
    let guard = CONFIG.lock();
    let config = match guard.as_ref().ok().and_then(|c| c.as_ref()) {
        Some(c) => c,
        None => {
            if level >= Level::Info {
                crate::output::diagnostic(&format!("{}: {}", level.label(), message));
            }
            return;
        }
    };
    let pid = std::process::id();
    if config.stderr && (level >= Level::Info || config.debug) {
        crate::output::diagnostic(&format!("{}: {}", level.label(), message));
    }
    if level >= Level::Info || config.debug {
        if let Some(facility) = config.facility {
            let pri = facility * 8 + level.syslog_severity();
            let datagram = format!(
                "<{pri}>{}[{pid}]: {}: {}",
                config.tag,
                level.label(),
                message
            );
            if let Ok(sock) = UnixDatagram::unbound() {
                let _ = sock.send_to(datagram.as_bytes(), "/dev/log");
            }
        }
    }
    let line = format!(
        "{} {}[{pid}]: {}: {}\n",
        crate::clock::utc_rfc3339(std::time::SystemTime::now()),
        config.tag,
        level.label(),
        message
    );
    if level >= Level::Info {
        if let Some(path) = &config.logfile {
            append(path, &line);
        }
    }
    if let Some(path) = &config.debuglog {
        append(path, &line);
    }
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, &format!($($arg)*)) };
}
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, &format!($($arg)*)) };
}
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, &format!($($arg)*)) };
}
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Err, &format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_registered_secret() {
        register_secret("abcd:efgh:ijklmnop");
        register_secret("ijklmnop");
        register_secret("xy"); // too short to register
        let text = "key abcd:efgh:ijklmnop then ijklmnop and xy";
        assert_eq!(redact(text), "key **** then **** and xy");
    }

    #[test]
    fn facilities() {
        assert_eq!(facility_code("daemon"), Some(3));
        assert_eq!(facility_code("LOCAL7"), Some(23));
        assert_eq!(facility_code("none"), None);
    }
}
