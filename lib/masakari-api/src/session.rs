//! One authenticated conversation with OpenStack: the HTTP client (oxha-http policy), the
//! token and its catalog, and requests cut to the caller's deadline.

use crate::error::{classify, Failure};
use crate::keystone::{self, CatalogService, TokenAnswer};
use crate::params::{Auth, Connection};
use ocf_lib::{Deadline, Secret};
use oxha_http::reqwest::{self, blocking::Client, Method};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Below this, a request is not worth starting.
const SMALLEST_REQUEST: Duration = Duration::from_millis(200);

/// How long a cached token is used after keystone issued it: well inside keystone's default
/// lifetime (1 h). One that expired or was revoked sooner costs a 401 and a new token.
const CACHED_TOKEN_AGE: Duration = Duration::from_secs(15 * 60);

/// A token kept on disk between invocations, with the catalog it came with and whose it is.
#[derive(Serialize, Deserialize)]
struct CachedToken {
    /// The credentials it was issued for, without the password ([`cache_key`]).
    key: String,
    /// When keystone issued it, in seconds since the epoch (this host's clock).
    issued: u64,
    token: String,
    catalog: Vec<CatalogService>,
}

/// Who a token is for: everything keystone scoped it by, never the password.
fn cache_key(c: &crate::params::Credentials) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        c.auth_url, c.username, c.user_domain_name, c.project_name, c.project_domain_name
    )
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub struct Session {
    http: Client,
    conn: Connection,
    token: Option<Secret>,
    /// The password once resolved: a password_script runs at most once per session, however
    /// many tokens the session asks for (nova refusing, then Masakari, in one monitor).
    password: Option<Secret>,
    catalog: Vec<CatalogService>,
    deadline: Deadline,
    /// Where a token is kept between invocations ([`Session::with_token_cache`]).
    token_cache: Option<PathBuf>,
}

fn transport(e: &reqwest::Error) -> Failure {
    Failure::Transient(oxha_http::error_chain(e))
}

impl Session {
    /// A session whose every request ends by `deadline`. Reads `ca_file`, builds the client;
    /// contacts nothing yet.
    pub fn new(conn: Connection, deadline: Deadline) -> Result<Session, String> {
        let mut policy = conn.policy.clone();
        if let Some(ca) = &conn.ca_file {
            policy = policy.ca_file(ca, "ca_file")?;
        }
        Ok(Session {
            http: policy.client()?,
            conn,
            token: None,
            password: None,
            catalog: Vec::new(),
            deadline,
            token_cache: None,
        })
    }

    /// Keeps the token in `path` (a file only this user may read, written 0600) and uses it
    /// again in later sessions, for up to 15 minutes after keystone issued it, when it was
    /// issued for the same credentials: an agent run every few seconds then spares keystone a
    /// password check, and the services the validation of a new token, on the path of an
    /// incident. A file that is not private to this user is ignored, and rewritten.
    pub fn with_token_cache(mut self, path: PathBuf) -> Session {
        self.token_cache = Some(path);
        self
    }

    /// The cached token and catalog, if there is one for these credentials, young enough.
    fn cached_token(&self) -> Option<(Secret, Vec<CatalogService>)> {
        let (Some(path), Auth::Keystone(creds)) = (&self.token_cache, &self.conn.auth) else {
            return None;
        };
        let meta = std::fs::symlink_metadata(path).ok()?;
        if !ocf_lib::files::is_private(&meta) {
            return None;
        }
        let cached: CachedToken = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let age = epoch_secs(SystemTime::now()).checked_sub(cached.issued)?;
        (cached.key == cache_key(creds) && age < CACHED_TOKEN_AGE.as_secs())
            .then(|| (Secret::new(cached.token), cached.catalog))
    }

    /// Best effort: a token that cannot be kept is asked for again next time.
    fn keep_token(&self, issued: SystemTime) {
        let (Some(path), Auth::Keystone(creds), Some(token)) =
            (&self.token_cache, &self.conn.auth, &self.token)
        else {
            return;
        };
        let cached = CachedToken {
            key: cache_key(creds),
            issued: epoch_secs(issued),
            token: token.expose().to_string(),
            catalog: self.catalog.clone(),
        };
        if let Ok(text) = serde_json::to_vec(&cached) {
            let _ = ocf_lib::files::replace_private(path, &text);
        }
    }

    fn drop_cached_token(&self) {
        if let Some(path) = &self.token_cache {
            let _ = std::fs::remove_file(path);
        }
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The next request's timeout: `request_timeout` cut to the deadline.
    fn timeout(&self) -> Result<Duration, Failure> {
        let left = self.deadline.cap(self.conn.request_timeout);
        if left < SMALLEST_REQUEST {
            return Err(Failure::Transient(
                "no time left for another request before the operation's deadline".into(),
            ));
        }
        Ok(left)
    }

    /// Keystone v3 password auth; keeps the token and the catalog.
    fn authenticate(&mut self) -> Result<(), Failure> {
        let Auth::Keystone(creds) = &self.conn.auth else {
            return Ok(());
        };
        let url = keystone::tokens_url(creds.auth_url.as_str());
        let what = format!("keystone {url}");
        let asked = SystemTime::now();
        // A password_script that fails now may work at the next attempt (a secret store
        // restarting): the caller keeps what it had to send.
        let password = match &self.password {
            Some(p) => p.clone(),
            None => {
                let p = creds
                    .password
                    .resolve(&self.deadline)
                    .map_err(Failure::Transient)?;
                self.password = Some(p.clone());
                p
            }
        };
        let resp = self
            .http
            .post(&url)
            .timeout(self.timeout()?)
            .json(&keystone::password_request(creds, &password))
            .send()
            .map_err(|e| transport(&e).about(&what))?;
        let code = resp.status().as_u16();
        if let Some(why) = oxha_http::refused_redirect(&resp) {
            return Err(Failure::Refused(code, format!("{what}: {why}")));
        }
        let token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(Secret::new);
        let text = resp.text().map_err(|e| transport(&e).about(&what))?;
        if !(200..300).contains(&code) {
            return Err(classify(code, &text).about(&what));
        }
        let token = token.ok_or_else(|| {
            Failure::Refused(code, format!("{what}: no X-Subject-Token in the answer"))
        })?;
        let answer: TokenAnswer = serde_json::from_str(&text)
            .map_err(|e| Failure::Refused(code, format!("{what}: unreadable token body: {e}")))?;
        self.token = Some(token);
        self.catalog = answer.token.catalog;
        self.keep_token(asked);
        Ok(())
    }

    fn ensure_token(&mut self) -> Result<(), Failure> {
        if self.token.is_some() || !matches!(self.conn.auth, Auth::Keystone(_)) {
            return Ok(());
        }
        if let Some((token, catalog)) = self.cached_token() {
            self.token = Some(token);
            self.catalog = catalog;
            return Ok(());
        }
        self.authenticate()
    }

    /// The endpoint of a service: `explicit` if given, else the catalog's entry of one of
    /// `types` for the configured interface and region (authenticating first).
    pub fn endpoint(
        &mut self,
        types: &[&str],
        explicit: Option<&reqwest::Url>,
        setting: &str,
    ) -> Result<String, Failure> {
        if let Some(url) = explicit {
            return Ok(url.as_str().to_string());
        }
        if !matches!(self.conn.auth, Auth::Keystone(_)) {
            return Err(Failure::Refused(
                0,
                format!("no {} endpoint without keystone: set {setting}", types[0]),
            ));
        }
        self.ensure_token()?;
        keystone::endpoint(&self.catalog, types, &self.conn.region_name, &self.conn.interface)
            .ok_or_else(|| {
                Failure::Refused(
                    404,
                    format!(
                        "no {} endpoint (interface {}, region {}) in the keystone catalog; set {setting}",
                        types[0], self.conn.interface, self.conn.region_name
                    ),
                )
            })
    }

    /// One request with the token (and `headers`); on 401 the token is renewed once. A
    /// redirect is a refusal, never followed. Returns the status and body of any other answer.
    pub fn send(
        &mut self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String), Failure> {
        for attempt in 0..2 {
            self.ensure_token()?;
            let mut req = self
                .http
                .request(method.clone(), url)
                .timeout(self.timeout()?);
            if let Some(token) = &self.token {
                req = req.header("X-Auth-Token", token.expose());
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().map_err(|e| transport(&e))?;
            let code = resp.status().as_u16();
            if let Some(why) = oxha_http::refused_redirect(&resp) {
                return Err(Failure::Refused(code, format!("{url}: {why}")));
            }
            let text = resp.text().map_err(|e| transport(&e))?;
            if code == 401 && attempt == 0 && matches!(self.conn.auth, Auth::Keystone(_)) {
                // Expired or revoked: a fresh one from keystone, never the cache again.
                self.token = None;
                self.drop_cached_token();
                self.authenticate()?;
                continue;
            }
            return Ok((code, text));
        }
        Err(Failure::Refused(
            401,
            "unauthorized after a fresh token".into(),
        ))
    }

    /// A GET whose 2xx JSON answer is parsed as `T`.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &mut self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<T, Failure> {
        let (code, text) = self.send(Method::GET, url, None, headers)?;
        if !(200..300).contains(&code) {
            return Err(classify(code, &text));
        }
        serde_json::from_str(&text)
            .map_err(|e| Failure::Refused(code, format!("unreadable answer from {url}: {e}")))
    }
}

/// `base` + `/` + `path`, with one slash between them.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
