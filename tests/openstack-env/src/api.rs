//! Nova's and Masakari's APIs asked directly, for what a soak polls every half second: the
//! servers, their actions and Masakari's notifications. The `openstack` client starts Python
//! and asks keystone for a token on every call, 2-5 s on two loaded cores, which made the
//! soak's recovery times coarse and its rounds slow. Here `curl` runs in the control node with
//! one keystone token, kept for the stack and asked again when nova or Masakari answer 401.
//! Each call returns None when the API could not answer; callers fall back to the client.

use super::{Notification, OpenStack, CONTROL};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

const NOVA: &str = "http://10.77.0.250:8774/v2.1";
const MASAKARI: &str = "http://10.77.0.250:15868/v1";
const KEYSTONE_TOKENS: &str = "http://10.77.0.250:5000/v3/auth/tokens";

/// One server as nova's `servers/detail` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRow {
    pub name: String,
    pub id: String,
    pub status: String,
    /// `OS-EXT-SRV-ATTR:host`; empty while nova has none.
    pub host: String,
}

/// The admin token of each stack (by its state directory).
fn tokens() -> &'static Mutex<HashMap<PathBuf, String>> {
    static TOKENS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    TOKENS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl OpenStack {
    /// The admin password, from the stack's `admin-openrc`.
    fn admin_password(&self) -> Option<String> {
        let rc = std::fs::read_to_string(self.state.join("openstack/admin-openrc")).ok()?;
        rc.lines()
            .find_map(|l| l.strip_prefix("export OS_PASSWORD="))
            .map(|p| p.trim().trim_matches('"').trim_matches('\'').to_string())
    }

    /// A keystone token for admin in project admin: the kept one unless `renew`.
    fn api_token(&self, renew: bool) -> Option<String> {
        let mut kept = tokens().lock().unwrap_or_else(|p| p.into_inner());
        if !renew {
            if let Some(t) = kept.get(&self.state) {
                return Some(t.clone());
            }
        }
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"},
                "password": self.admin_password()?}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
        // The body (the password) goes on stdin, never on a command line.
        let r = self.cluster.run_stdin(
            CONTROL,
            &[
                "curl",
                "-sS",
                "-m",
                "20",
                "-o",
                "/dev/null",
                "-D",
                "-",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
                KEYSTONE_TOKENS,
            ],
            Some(&body.to_string()),
        );
        let token = r.stdout.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-subject-token")
                .then(|| value.trim().to_string())
        })?;
        kept.insert(self.state.clone(), token.clone());
        Some(token)
    }

    /// GET `url` with the admin token (renewed once on 401), as JSON.
    pub fn api_get(&self, url: &str) -> Option<serde_json::Value> {
        for renew in [false, true] {
            let token = self.api_token(renew)?;
            let auth = format!("X-Auth-Token: {token}");
            let argv = [
                "curl",
                "-sS",
                "-m",
                "20",
                "-w",
                "\n%{http_code}",
                "-H",
                &auth,
                url,
            ];
            let r = self.cluster.run(CONTROL, &argv);
            let (body, code) = r.stdout.trim_end().rsplit_once('\n')?;
            match code {
                "200" => return serde_json::from_str(body).ok(),
                "401" => continue,
                _ => return None,
            }
        }
        None
    }

    /// Nova's servers of the admin project (what `openstack server list` shows).
    pub fn api_servers(&self) -> Option<Vec<ServerRow>> {
        let v = self.api_get(&format!("{NOVA}/servers/detail"))?;
        let list = v["servers"].as_array()?;
        Some(
            list.iter()
                .map(|s| ServerRow {
                    name: text(&s["name"]),
                    id: text(&s["id"]),
                    status: text(&s["status"]),
                    host: text(&s["OS-EXT-SRV-ATTR:host"]),
                })
                .collect(),
        )
    }

    /// When nova received the last `action` for server `id` (its instance actions), epoch
    /// seconds; `Some(None)` when it has none.
    pub fn api_server_action_at(&self, id: &str, action: &str) -> Option<Option<f64>> {
        let v = self.api_get(&format!("{NOVA}/servers/{id}/os-instance-actions"))?;
        let list = v["instanceActions"].as_array()?;
        Some(
            list.iter()
                .filter(|a| a["action"].as_str() == Some(action))
                .filter_map(|a| a["start_time"].as_str())
                .filter_map(oxha_multinode::masakari::epoch_of)
                .reduce(f64::max),
        )
    }

    /// Masakari's notifications, oldest first (what [`OpenStack::notifications`] reads through
    /// the client).
    pub fn api_notifications(&self) -> Option<Vec<Notification>> {
        let v = self.api_get(&format!("{MASAKARI}/notifications?limit=1000"))?;
        Some(notifications_of(v["notifications"].as_array()?))
    }
}

/// Notifications as Masakari's API and the client's `-f json` list them (the same keys),
/// oldest first.
pub(crate) fn notifications_of(list: &[serde_json::Value]) -> Vec<Notification> {
    let mut out: Vec<Notification> = list
        .iter()
        .map(|n| Notification {
            uuid: text(&n["notification_uuid"]),
            kind: text(&n["type"]),
            status: text(&n["status"]),
            source_host_uuid: text(&n["source_host_uuid"]),
            payload: text(&n["payload"]),
            generated_at: oxha_multinode::masakari::epoch_of(&text(&n["generated_time"]))
                .unwrap_or(0.0),
        })
        .collect();
    out.sort_by(|a, b| a.generated_at.total_cmp(&b.generated_at));
    out
}
