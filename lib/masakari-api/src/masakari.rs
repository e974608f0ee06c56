//! The Masakari v1 calls the agents make: notifications, segments and their hosts.

use crate::error::{classify, error_message, Failure};
use crate::session::{join, Session};
use oxha_http::reqwest::Method;
use serde::{Deserialize, Serialize};

/// The catalog types of the Masakari API (`ha` is its old alias).
pub const SERVICE_TYPES: &[&str] = &["instance-ha", "ha"];

/// One notification as the API takes it. `generated_time` is kept as first generated, so a
/// re-send is recognised by Masakari as the same event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    #[serde(rename = "type")]
    pub kind: String,
    pub hostname: String,
    pub generated_time: String,
    pub payload: serde_json::Map<String, serde_json::Value>,
}

/// The answer to `POST /notifications` (202).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct NotificationAnswer {
    #[serde(default)]
    pub notification: Option<StoredNotification>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct StoredNotification {
    #[serde(default)]
    pub notification_uuid: String,
}

/// `GET /notifications/{uuid}` at API 1.0: the stored notification without its recovery
/// workflow (1.1 and later ask the engine for it, which needs taskflow persistence).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct NotificationShow {
    #[serde(default)]
    pub notification: NotificationState,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct NotificationState {
    #[serde(default)]
    pub notification_uuid: String,
    /// new, running, finished, error, failed or ignored.
    #[serde(default)]
    pub status: String,
}

/// A notification as `GET /notifications` lists it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ListedNotification {
    #[serde(default)]
    pub notification_uuid: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub source_host_uuid: String,
    #[serde(default)]
    pub generated_time: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub payload: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct NotificationList {
    #[serde(default)]
    pub notifications: Vec<ListedNotification>,
}

/// The answer to `POST /notifications`, classified as the engine's rules make it mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostOutcome {
    /// 202: stored, the engine will act on it. Carries the notification uuid.
    Accepted(String),
    /// 409 "... is duplicate": the same payload within the detection window was stored.
    Duplicate(String),
    /// 409 "... under maintenance": Masakari ignores every notification of this host.
    Maintenance(String),
    /// 400 "Host with name ... could not be found": the host is in no segment.
    UnknownHost(String),
    Failed(Failure),
}

/// A failover segment.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Segment {
    pub uuid: String,
    #[serde(default)]
    pub name: String,
    /// auto, reserved_host, auto_priority or rh_priority.
    #[serde(default)]
    pub recovery_method: String,
    /// COMPUTE.
    #[serde(default)]
    pub service_type: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct SegmentList {
    #[serde(default)]
    pub segments: Vec<Segment>,
}

/// A host of a segment.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    #[serde(default)]
    pub uuid: String,
    #[serde(default)]
    pub on_maintenance: bool,
    #[serde(default)]
    pub reserved: bool,
    /// COMPUTE, or another type a site gave it.
    #[serde(default, rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct HostList {
    #[serde(default)]
    pub hosts: Vec<Host>,
}

/// Classifies the answer to a notification POST.
pub fn post_outcome(code: u16, text: &str) -> PostOutcome {
    match code {
        200..=299 => {
            let uuid = serde_json::from_str::<NotificationAnswer>(text)
                .ok()
                .and_then(|a| a.notification)
                .map(|n| n.notification_uuid)
                .unwrap_or_default();
            PostOutcome::Accepted(uuid)
        }
        409 => {
            let m = error_message(text);
            if m.contains("maintenance") {
                PostOutcome::Maintenance(m)
            } else {
                PostOutcome::Duplicate(m)
            }
        }
        400 if error_message(text).contains("could not be found") => {
            PostOutcome::UnknownHost(error_message(text))
        }
        _ => PostOutcome::Failed(classify(code, text)),
    }
}

pub struct MasakariClient {
    session: Session,
    endpoint: Option<String>,
}

impl MasakariClient {
    pub fn new(session: Session) -> MasakariClient {
        MasakariClient {
            session,
            endpoint: None,
        }
    }

    /// The session (for other services with the same token, e.g. nova).
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    fn url(&mut self, path: &str) -> Result<String, Failure> {
        if self.endpoint.is_none() {
            let explicit = self.session.connection().masakari_url.clone();
            self.endpoint = Some(self.session.endpoint(
                SERVICE_TYPES,
                explicit.as_ref(),
                "masakari_url",
            )?);
        }
        let base = self.endpoint.as_deref().unwrap_or_default();
        Ok(join(base, path))
    }

    pub fn post_notification(&mut self, n: &Notification) -> PostOutcome {
        let body = serde_json::json!({ "notification": n });
        let url = match self.url("notifications") {
            Ok(u) => u,
            Err(f) => return PostOutcome::Failed(f),
        };
        match self.session.send(Method::POST, &url, Some(&body), &[]) {
            Ok((code, text)) => post_outcome(code, &text),
            Err(f) => PostOutcome::Failed(f),
        }
    }

    /// A stored notification's status (new, running, finished, error, failed, ignored).
    pub fn notification_status(&mut self, uuid: &str) -> Result<String, Failure> {
        let url = self.url(&format!("notifications/{uuid}"))?;
        Ok(self
            .session
            .get_json::<NotificationShow>(&url, &[])?
            .notification
            .status)
    }

    pub fn segments(&mut self) -> Result<Vec<Segment>, Failure> {
        let url = self.url("segments")?;
        Ok(self.session.get_json::<SegmentList>(&url, &[])?.segments)
    }

    pub fn hosts(&mut self, segment: &Segment) -> Result<Vec<Host>, Failure> {
        let url = self.url(&format!("segments/{}/hosts", segment.uuid))?;
        Ok(self.session.get_json::<HostList>(&url, &[])?.hosts)
    }

    /// The notifications of `kind` (`COMPUTE_HOST`) generated since `since` (RFC 3339, UTC).
    pub fn notifications(
        &mut self,
        kind: &str,
        since: &str,
    ) -> Result<Vec<ListedNotification>, Failure> {
        let base = self.url("notifications")?;
        let mut url = oxha_http::reqwest::Url::parse(&base)
            .map_err(|e| Failure::Refused(0, format!("Masakari endpoint {base}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("type", kind)
            .append_pair("generated-since", since);
        Ok(self
            .session
            .get_json::<NotificationList>(url.as_str(), &[])?
            .notifications)
    }

    /// The host named `name` (searching every segment), or `None`.
    pub fn find_host(&mut self, name: &str) -> Result<Option<Host>, Failure> {
        for seg in self.segments()? {
            if let Some(h) = self.hosts(&seg)?.into_iter().find(|h| h.name == name) {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }
}
