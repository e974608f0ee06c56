//! A small Masakari v1 client: keystone v3 password auth (or none, for `noauth2`), the
//! `instance-ha` catalog lookup, and the few calls the agents make. Shared by
//! `masakari-restart` and `fence_masakari`.
//!
//! Each agent invocation is short-lived, so a token is fetched on first use and not cached on
//! disk (a token file would be a secret in a state directory).

use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug)]
pub struct Keystone {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    pub region_name: String,
    pub interface: String,
}

#[derive(Clone, Debug)]
pub enum Auth {
    Keystone(Keystone),
    /// Masakari with `auth_strategy = noauth2`: no token at all.
    NoAuth,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Explicit endpoint (`http://vip:15868/v1`); else the catalog's `instance-ha` entry.
    pub masakari_url: Option<String>,
    pub auth: Auth,
    pub ca_file: Option<String>,
    pub insecure: bool,
    pub timeout: Duration,
}

/// How a request failed, in the terms the agents decide on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Network error, timeout or 5xx: worth trying again later.
    Transient(String),
    /// Masakari (or keystone) answered and refused; trying again will not help.
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

/// One notification as the API takes it. `generated_time` is kept as first generated, so a
/// re-send is recognised by Masakari as the same event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    #[serde(rename = "type")]
    pub kind: String,
    pub hostname: String,
    pub generated_time: String,
    pub payload: serde_json::Map<String, Value>,
}

pub struct Client {
    http: reqwest::blocking::Client,
    config: Config,
    token: Option<String>,
    endpoint: Option<String>,
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC), the form masakari-monitors sends.
pub fn utc_timestamp(t: SystemTime) -> String {
    ocf_lib::clock::utc_rfc3339(t)
}

/// The message of an OpenStack error body (`{"conflictingRequest": {"message": ...}}`), or
/// the start of the body.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        v.as_object()?
            .values()
            .find_map(|inner| inner.get("message")?.as_str().map(str::to_string))
    });
    from_json.unwrap_or_else(|| {
        body.chars()
            .take(200)
            .collect::<String>()
            .replace('\n', " ")
    })
}

fn transport(e: &reqwest::Error) -> Failure {
    // The chain's innermost cause says "connection refused", "timed out", ...
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    Failure::Transient(text)
}

fn classify(code: u16, body: &str) -> Failure {
    let message = error_message(body);
    if code >= 500 || code == 408 || code == 429 {
        Failure::Transient(format!("HTTP {code}: {message}"))
    } else {
        Failure::Refused(code, message)
    }
}

impl Client {
    pub fn new(config: Config) -> Result<Client, String> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("oxha-masakari/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("ca_file {path}: {e}"))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("ca_file {path}: {e}"))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Client {
            http,
            config,
            token: None,
            endpoint: None,
        })
    }

    /// Keystone v3 password auth; keeps the token and, unless `masakari_url` is set, the
    /// `instance-ha` (alias `ha`) endpoint from the catalog.
    fn authenticate(&mut self) -> Result<(), Failure> {
        let ks = match &self.config.auth {
            Auth::NoAuth => {
                if self.endpoint.is_none() {
                    self.endpoint = self.config.masakari_url.clone();
                }
                return Ok(());
            }
            Auth::Keystone(ks) => ks.clone(),
        };
        let base = ks.auth_url.trim_end_matches('/');
        let url = if base.ends_with("/v3") {
            format!("{base}/auth/tokens")
        } else {
            format!("{base}/v3/auth/tokens")
        };
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": ks.username, "domain": {"name": ks.user_domain_name}, "password": ks.password}}},
            "scope": {"project": {"name": ks.project_name, "domain": {"name": ks.project_domain_name}}}
        }});
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .map_err(|e| transport(&e))?;
        let code = resp.status().as_u16();
        let token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().map_err(|e| transport(&e))?;
        if !(200..300).contains(&code) {
            let failure = classify(code, &text);
            return Err(match failure {
                Failure::Refused(c, m) => Failure::Refused(c, format!("keystone {url}: {m}")),
                Failure::Transient(m) => Failure::Transient(format!("keystone {url}: {m}")),
            });
        }
        let token = token.ok_or_else(|| {
            Failure::Refused(
                code,
                format!("keystone {url}: no X-Subject-Token in the answer"),
            )
        })?;
        ocf_lib::log::register_secret(&token);
        self.token = Some(token);
        if let Some(url) = &self.config.masakari_url {
            self.endpoint = Some(url.clone());
            return Ok(());
        }
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| Failure::Refused(code, format!("keystone token body: {e}")))?;
        let endpoint = catalog_endpoint(&doc, &ks.region_name, &ks.interface).ok_or_else(|| {
            Failure::Refused(
                404,
                format!(
                    "no instance-ha endpoint (interface {}, region {}) in the keystone catalog; set masakari_url",
                    ks.interface, ks.region_name
                ),
            )
        })?;
        self.endpoint = Some(endpoint);
        Ok(())
    }

    fn ensure_auth(&mut self) -> Result<String, Failure> {
        if self.endpoint.is_none()
            || (self.token.is_none() && matches!(self.config.auth, Auth::Keystone(_)))
        {
            self.authenticate()?;
        }
        self.endpoint
            .clone()
            .ok_or_else(|| Failure::Refused(0, "no Masakari endpoint".into()))
    }

    /// One request with the token; on 401 the token is renewed once.
    fn request(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), Failure> {
        for attempt in 0..2 {
            let endpoint = self.ensure_auth()?;
            let url = format!(
                "{}/{}",
                endpoint.trim_end_matches('/'),
                path.trim_start_matches('/')
            );
            let mut req = self.http.request(method.clone(), &url);
            if let Some(token) = &self.token {
                req = req.header("X-Auth-Token", token);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().map_err(|e| transport(&e))?;
            let code = resp.status().as_u16();
            let text = resp.text().map_err(|e| transport(&e))?;
            if code == 401 && attempt == 0 && matches!(self.config.auth, Auth::Keystone(_)) {
                self.token = None;
                continue;
            }
            return Ok((code, text));
        }
        Err(Failure::Refused(
            401,
            "unauthorized after a fresh token".into(),
        ))
    }

    pub fn get(&mut self, path: &str) -> Result<Value, Failure> {
        let (code, text) = self.request(reqwest::Method::GET, path, None)?;
        if !(200..300).contains(&code) {
            return Err(classify(code, &text));
        }
        serde_json::from_str(&text)
            .map_err(|e| Failure::Refused(code, format!("unreadable answer: {e}")))
    }

    pub fn post_notification(&mut self, n: &Notification) -> PostOutcome {
        let body = json!({ "notification": n });
        let (code, text) = match self.request(reqwest::Method::POST, "notifications", Some(&body)) {
            Ok(r) => r,
            Err(f) => return PostOutcome::Failed(f),
        };
        match code {
            200..=299 => {
                let uuid = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v["notification"]["notification_uuid"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                PostOutcome::Accepted(uuid)
            }
            409 => {
                let m = error_message(&text);
                if m.contains("maintenance") {
                    PostOutcome::Maintenance(m)
                } else {
                    PostOutcome::Duplicate(m)
                }
            }
            400 if error_message(&text).contains("could not be found") => {
                PostOutcome::UnknownHost(error_message(&text))
            }
            _ => PostOutcome::Failed(classify(code, &text)),
        }
    }

    /// The Masakari host record named `name` (searching every segment), or `None`.
    pub fn find_host(&mut self, name: &str) -> Result<Option<Value>, Failure> {
        let segments = self.get("segments")?;
        for seg in segments["segments"].as_array().into_iter().flatten() {
            let Some(uuid) = seg["uuid"].as_str() else {
                continue;
            };
            let hosts = self.get(&format!("segments/{uuid}/hosts"))?;
            if let Some(h) = hosts["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|h| h["name"].as_str() == Some(name))
            {
                return Ok(Some(h.clone()));
            }
        }
        Ok(None)
    }
}

/// The `instance-ha` (or `ha`) endpoint URL for `interface` in `region` from a token body.
pub fn catalog_endpoint(token: &Value, region: &str, interface: &str) -> Option<String> {
    let catalog = token["token"]["catalog"].as_array()?;
    catalog
        .iter()
        .filter(|s| matches!(s["type"].as_str(), Some("instance-ha" | "ha")))
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .find(|e| {
            e["interface"].as_str() == Some(interface)
                && (e["region"].as_str() == Some(region) || e["region_id"].as_str() == Some(region))
        })
        .and_then(|e| e["url"].as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn timestamps_are_utc_iso8601_with_micros() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_000);
        assert_eq!(utc_timestamp(t), "2026-11-18T11:06:40.123456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn error_messages_come_from_the_openstack_body() {
        let body = r#"{"conflictingRequest": {"code": 409, "message": "Notification received from host h1 of type 'VM' is duplicate."}}"#;
        assert!(error_message(body).ends_with("is duplicate."));
        assert_eq!(error_message("<html>oops</html>"), "<html>oops</html>");
        assert!(matches!(classify(503, ""), Failure::Transient(_)));
        assert!(matches!(classify(403, "{}"), Failure::Refused(403, _)));
    }

    #[test]
    fn catalog_lookup_accepts_the_ha_alias_and_region_id() {
        let token = json!({"token": {"catalog": [
            {"type": "compute", "endpoints": [{"interface": "public", "region": "RegionOne", "url": "http://nova"}]},
            {"type": "ha", "endpoints": [
                {"interface": "internal", "region_id": "RegionOne", "url": "http://m:15868/v1/abc"},
                {"interface": "public", "region": "RegionTwo", "url": "http://other"}]}
        ]}});
        assert_eq!(
            catalog_endpoint(&token, "RegionOne", "internal").as_deref(),
            Some("http://m:15868/v1/abc")
        );
        assert_eq!(catalog_endpoint(&token, "RegionOne", "public"), None);
    }
}
