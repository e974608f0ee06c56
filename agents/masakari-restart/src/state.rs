//! The agent's state between invocations: the domains as last seen and the incidents not yet
//! delivered, in `state_dir/state.json`.
//!
//! It holds incidents Masakari has not heard of yet, so it is written durably (a temporary
//! file, fsync, rename over the old one, fsync of the directory: after a crash or a power loss
//! it is the old state or the new one, whole), and a state file that cannot be read or parsed
//! is an error, never an empty state: an empty state would silently drop those incidents.

use oxha_masakari_api::Notification;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A domain as last seen by a poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub name: String,
    pub state: u32,
    pub reason: u32,
}

/// An incident not yet delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub domain: String,
    pub notification: Notification,
    pub attempts: u32,
    /// Which report of its guest's crash this is: 1 for a crash seen happen, more for a guest
    /// reported again while crashed (see [`Followed`]).
    #[serde(default = "first_report")]
    pub report: u32,
    /// For a report again: the notification of the recovery that ended without the guest.
    #[serde(default)]
    pub follows: Option<String>,
    /// Masakari refused it, at its first sending, as a duplicate: the same payload (the
    /// guest's uuid and event) as a notification of the last
    /// duplicate_notification_detection_interval, i.e. an earlier crash of this guest. Held,
    /// and sent again with a new generated_time at each poll while the guest is still in that
    /// state, until Masakari's window has passed and it accepts the report.
    #[serde(default)]
    pub held: bool,
}

fn first_report() -> u32 {
    1
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub domains: BTreeMap<String, Seen>,
    pub pending: Vec<Incident>,
    pub libvirt_failures: u32,
    /// Crashed guests whose notification Masakari accepted, by domain uuid: followed until
    /// Masakari has ended the recovery (older state files have none).
    #[serde(default)]
    pub followed: BTreeMap<String, Followed>,
}

/// A delivered crash, followed until Masakari has ended its recovery. A guest that is still, or again, crashed once Masakari has ended the recovery
/// (finished, error, failed) crashed again before a poll saw it run, or the recovery did not
/// bring it back: it is reported again, up to [`RESEND_MAX`] times in a row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followed {
    pub notification_uuid: String,
    /// Reports of this guest since it was last seen in a state other than crashed.
    pub reports: u32,
}

/// Reports of one guest, crashed all along, before the agent leaves it to the operator.
pub const RESEND_MAX: u32 = 3;

/// `state.json` in a state directory.
#[derive(Clone, Debug)]
pub struct StateFile {
    pub path: PathBuf,
}

impl StateFile {
    pub fn in_dir(dir: &Path) -> StateFile {
        StateFile {
            path: dir.join("state.json"),
        }
    }

    /// The saved state; the empty state when there is none yet. A file that exists but cannot
    /// be read or parsed is an error that says what to do.
    pub fn load(&self) -> Result<State, String> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(format!(
                    "cannot read the state file {}: {e}; it may hold incidents not yet sent to Masakari",
                    self.path.display()
                ))
            }
        };
        parse(&bytes).map_err(|e| {
            format!(
                "the state file {} is corrupt ({e}); it may hold incidents not yet sent to Masakari: look at it, move it away, then clean up the resource",
                self.path.display()
            )
        })
    }

    /// Replaces the state file durably.
    pub fn save(&self, state: &State) -> Result<(), String> {
        let data = serde_json::to_vec_pretty(state).map_err(|e| format!("state: {e}"))?;
        ocf_lib::files::replace_durably(&self.path, &data).map_err(|(what, e)| {
            format!(
                "cannot write the state file {}: {what}: {e}",
                self.path.display()
            )
        })
    }
}

/// Parses a state file's content.
pub fn parse(bytes: &[u8]) -> Result<State, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mr-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn incident() -> Incident {
        let mut payload = serde_json::Map::new();
        payload.insert("event".into(), "LIFECYCLE".into());
        Incident {
            domain: "guest1".into(),
            notification: Notification {
                kind: "VM".into(),
                hostname: "compute-1".into(),
                generated_time: "2026-01-01T00:00:00.000000Z".into(),
                payload,
            },
            attempts: 2,
            report: 1,
            follows: None,
            held: false,
        }
    }

    #[test]
    fn a_state_file_from_before_following_still_loads() {
        let d = dir("old");
        let f = StateFile::in_dir(&d);
        let old = r#"{"domains":{},"pending":[{"domain":"guest1","notification":{"type":"VM","hostname":"compute-1","generated_time":"2026-01-01T00:00:00.000000Z","payload":{"event":"LIFECYCLE"}},"attempts":2}],"libvirt_failures":0}"#;
        std::fs::write(&f.path, old).expect("write");
        let s = f.load().expect("an older state file loads");
        assert_eq!(s.pending, vec![incident()]);
        assert!(s.followed.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn save_then_load_and_no_temporary_left() {
        let d = dir("rt");
        let f = StateFile::in_dir(&d);
        assert_eq!(f.load().expect("none yet"), State::default());
        let mut s = State::default();
        s.pending.push(incident());
        s.libvirt_failures = 1;
        s.followed.insert(
            "6a1f0d3c-0000-4000-8000-000000000001".into(),
            Followed {
                notification_uuid: "n-1".into(),
                reports: 2,
            },
        );
        f.save(&s).expect("saved");
        assert_eq!(f.load().expect("loads"), s);
        let names: Vec<String> = std::fs::read_dir(&d)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state.json"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn corrupt_or_unreadable_is_an_error_never_an_empty_state() {
        let d = dir("bad");
        let f = StateFile::in_dir(&d);
        std::fs::write(&f.path, b"{\"pending\": [{\"domain\": \"g\"").expect("write");
        let err = f.load().expect_err("corrupt");
        assert!(
            err.contains("is corrupt") && err.contains("move it away"),
            "{err}"
        );
        std::fs::remove_file(&f.path).expect("rm");
        std::fs::create_dir(&f.path).expect("a directory where the file should be");
        let err = f.load().expect_err("unreadable");
        assert!(err.starts_with("cannot read the state file"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&bytes);
        }
    }
}
