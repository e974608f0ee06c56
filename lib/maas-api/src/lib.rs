//! The few MAAS 2.0 API calls fence_maas and oxha-check need, through the agents' HTTP client policy
//! (oxha-http: no redirects, no proxy unless configured), signed with 0-legged OAuth 1.0
//! PLAINTEXT as MAAS expects. Every request's timeout is cut to what is left of the
//! invocation's budget.

use ocf_lib::{Deadline, Secret};
use oxha_http::reqwest;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::io::Read;
use std::time::Duration;

/// A MAAS API key: `consumer_key:token_key:token_secret` (the consumer secret is always empty).
#[derive(Clone)]
pub struct ApiKey {
    pub consumer_key: String,
    pub token_key: String,
    token_secret: Secret,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}:{}:****)", self.consumer_key, self.token_key)
    }
}

impl ApiKey {
    /// Parses a key; the error never contains the key.
    pub fn parse(text: &str) -> Result<ApiKey, String> {
        let text = text.trim();
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() != 3 {
            return Err(format!(
                "the MAAS API key must be consumer_key:token_key:token_secret (3 fields separated by ':'), got {} field(s)",
                parts.len()
            ));
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err("the MAAS API key has an empty field (expected consumer_key:token_key:token_secret)".into());
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the MAAS API key contains whitespace".into());
        }
        for part in &parts {
            ocf_lib::log::register_secret(part);
        }
        ocf_lib::log::register_secret(text);
        Ok(ApiKey {
            consumer_key: parts[0].to_string(),
            token_key: parts[1].to_string(),
            token_secret: Secret::new(parts[2]),
        })
    }

    /// The `Authorization` header value for one request (`url` without its query).
    pub fn authorization(&self, method: &str, url: &str) -> String {
        let client = oauth1_request::Credentials::new(self.consumer_key.as_str(), "");
        let token =
            oauth1_request::Credentials::new(self.token_key.as_str(), self.token_secret.expose());
        let mut builder = oauth1_request::Builder::new(client, oauth1_request::PLAINTEXT);
        builder.token(token).version(true);
        encode_signature(&builder.authorize(method, url, &()))
    }
}

/// RFC 5849 §3.5.1 wants every header value percent-encoded; oauth1-request writes the
/// PLAINTEXT signature `<consumer_secret>&<token_secret>` as is. Encode it the way oauthlib
/// (python-libmaas, the MAAS CLI) does: `%26<token_secret>`. The signature's parts are already
/// percent-encoded, so only `%` and `&` remain to encode.
fn encode_signature(header: &str) -> String {
    const FIELD: &str = "oauth_signature=\"";
    let Some(start) = header.find(FIELD).map(|i| i + FIELD.len()) else {
        return header.to_string();
    };
    let len = header[start..].find('"').unwrap_or(header.len() - start);
    let value = &header[start..start + len];
    let encoded = value.replace('%', "%25").replace('&', "%26");
    format!("{}{}{}", &header[..start], encoded, &header[start + len..])
}

#[derive(Debug, PartialEq, Eq)]
pub enum MaasError {
    /// 401: the key was refused.
    Unauthorized(String),
    /// No TCP/TLS connection (or it broke).
    Connect(String),
    /// A request did not finish within shell_timeout.
    Timeout(String),
    /// Any other non-success answer.
    Http { status: u16, body: String },
    /// A success status with a body that is not what MAAS sends (or `null`).
    Body(String),
}

impl fmt::Display for MaasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaasError::Unauthorized(m) => write!(f, "MAAS refused the API key (401): {m}"),
            MaasError::Connect(m) => write!(f, "cannot reach the MAAS API: {m}"),
            MaasError::Timeout(m) => write!(f, "MAAS API request timed out: {m}"),
            MaasError::Http { status, body } => {
                let why = match status {
                    403 => " (forbidden: the machine is locked or the user may not edit it)",
                    404 => " (no such machine)",
                    409 => " (the machine's state does not allow this)",
                    503 => " (MAAS cannot act now: no rack controller reaches the BMC, or the region is overloaded)",
                    504 => " (MAAS timed out talking to the BMC)",
                    _ => "",
                };
                if body.is_empty() {
                    write!(f, "MAAS answered HTTP {status}{why}")
                } else {
                    write!(f, "MAAS answered HTTP {status}{why}: {body}")
                }
            }
            MaasError::Body(m) => write!(f, "unexpected MAAS answer: {m}"),
        }
    }
}

/// The fields of a machine object fence_maas uses.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Machine {
    pub system_id: String,
    pub hostname: String,
    #[serde(default)]
    pub fqdn: String,
    #[serde(default)]
    pub status_name: String,
    #[serde(default)]
    pub power_state: String,
    /// `ipmi`, `redfish`, `manual`, ... (`manual` means MAAS cannot power the machine).
    #[serde(default)]
    pub power_type: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Named {
    #[serde(default)]
    pub name: String,
}

/// A machine as `list` reads it from a (possibly huge) `machines/` answer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ListedMachine {
    pub hostname: String,
    #[serde(default)]
    pub fqdn: String,
    #[serde(default)]
    pub power_state: String,
    #[serde(default)]
    pub tag_names: Vec<String>,
    #[serde(default, deserialize_with = "name_of")]
    pub zone: Option<String>,
    #[serde(default, deserialize_with = "name_of")]
    pub pool: Option<String>,
}

/// `"zone": {"name": "default", …}` → `Some("default")`; `null` → `None`.
fn name_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Named>::deserialize(d)?.map(|n| n.name))
}

#[derive(Deserialize)]
struct PowerStateAnswer {
    state: Option<String>,
}

#[derive(Deserialize)]
struct WhoAmI {
    username: String,
}

/// Parses a machine read (`machines/<id>/`).
pub fn parse_machine(system_id: &str, body: &str) -> Result<Machine, MaasError> {
    serde_json::from_str::<Machine>(body)
        .map_err(|e| MaasError::Body(format!("machine {system_id}: {e}")))
}

/// Parses a filtered `machines/` answer (a JSON array of machines).
pub fn parse_machines(body: &str) -> Result<Vec<Machine>, MaasError> {
    serde_json::from_str::<Vec<Machine>>(body)
        .map_err(|e| MaasError::Body(format!("machines list: {e}")))
}

/// Parses a `users/?op=whoami` answer: the user's name.
pub fn parse_whoami(body: &str) -> Result<String, MaasError> {
    serde_json::from_str::<WhoAmI>(body)
        .map(|w| w.username)
        .map_err(|e| MaasError::Body(format!("users/?op=whoami: {e}")))
}

/// A non-success answer (other than a refused redirect) as an error, with the wait its
/// `Retry-After` (whole seconds, as MAAS sends it) asks for.
pub fn error_answer(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> (MaasError, Option<Duration>) {
    let retry_after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if status == 401 {
        return (MaasError::Unauthorized(quote_body(body)), None);
    }
    (
        MaasError::Http {
            status,
            body: quote_body(body),
        },
        retry_after,
    )
}

/// Parses a `query_power_state` answer: `{"state": "on"}`.
pub fn parse_power_state(body: &str) -> Result<String, MaasError> {
    let answer: Option<PowerStateAnswer> = serde_json::from_str(body)
        .map_err(|e| MaasError::Body(format!("query_power_state: {e}")))?;
    answer
        .and_then(|a| a.state)
        .ok_or_else(|| MaasError::Body("query_power_state answered without a state".into()))
}

/// Checks a power_on/power_off answer: a machine object means MAAS accepted the request,
/// `null` means it did not send any power action (power type manual, controllers, DPUs).
pub fn parse_power_answer(op: &str, body: &str) -> Result<(), MaasError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| MaasError::Body(format!("{op}: {e}")))?;
    match value {
        serde_json::Value::Object(_) => Ok(()),
        serde_json::Value::Null => Err(MaasError::Body(format!(
            "{op} answered null: MAAS sent no power action (power type manual, or a controller)"
        ))),
        other => Err(MaasError::Body(format!(
            "{op} answered a JSON {} instead of a machine",
            json_kind(&other)
        ))),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Feeds each element of a JSON array of machines to `each` as it is parsed, so a listing
/// of thousands of machines never sits in memory whole.
struct EachMachine<'a, F>(&'a mut F);

impl<'de, F: FnMut(ListedMachine)> DeserializeSeed<'de> for EachMachine<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(ListedMachine)> Visitor<'de> for EachMachine<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of machines")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(m) = seq.next_element::<ListedMachine>()? {
            (self.0)(m);
        }
        Ok(())
    }
}

/// Streams a `machines/` answer into `each`.
pub fn parse_machine_list<R: Read>(
    reader: R,
    each: &mut impl FnMut(ListedMachine),
) -> Result<(), MaasError> {
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, reader));
    EachMachine(each)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| MaasError::Body(format!("machines list: {e}")))
}

/// Where the MAAS API is and how to reach it (fence_maas's ip/maas_url, ssl_insecure, proxy,
/// ssl_ca parameters), whoever reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// The API base URL (`…/MAAS/api/2.0/`), from [`base_url`].
    pub base: String,
    pub insecure: bool,
    pub proxy: Option<String>,
    pub ssl_ca: Option<String>,
}

impl Access {
    /// The HTTP policy of a client with `user_agent`.
    pub fn policy(
        &self,
        user_agent: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<oxha_http::Policy, String> {
        let mut policy = oxha_http::Policy::new(user_agent);
        policy.connect_timeout = connect_timeout;
        policy.timeout = timeout;
        policy.insecure = self.insecure;
        policy.proxy = self.proxy.clone();
        policy.system_roots = self.base.starts_with("https://");
        if let (Some(ca), false) = (&self.ssl_ca, self.insecure) {
            policy = policy.ca_file(ca, "ssl_ca")?;
        }
        Ok(policy)
    }
}

/// The API base URL (`…/MAAS/api/2.0/`) from maas_url, or ip + ipport + ssl.
pub fn base_url(
    maas_url: Option<&str>,
    ip: Option<&str>,
    port: Option<u16>,
    ssl: bool,
) -> Result<String, String> {
    if let Some(url) = maas_url {
        oxha_http::check_url(url, "maas_url")?;
        let url = url.trim().trim_end_matches('/');
        let root = url
            .strip_suffix("/api/2.0")
            .unwrap_or(url)
            .trim_end_matches('/');
        let full = format!("{root}/api/2.0/");
        oxha_http::reqwest::Url::parse(&full).map_err(|e| format!("maas_url '{url}': {e}"))?;
        return Ok(full);
    }
    let ip = ip
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("set ip (and ipport) or maas_url")?;
    if ip.contains('/') || ip.contains('@') {
        return Err(format!(
            "ip '{ip}' must be a host name or address (use maas_url for URLs)"
        ));
    }
    // `host:port` in ip is accepted, as fence_redfish does; more colons mean IPv6.
    let (ip, port) = match ip.split_once(':') {
        Some((host, p)) if !p.contains(':') => {
            let p = p
                .parse::<u16>()
                .map_err(|_| format!("ip '{ip}': the part after ':' is not a port"))?;
            (host, Some(p))
        }
        _ => (ip, port),
    };
    let host = if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    let scheme = if ssl { "https" } else { "http" };
    let port = port.unwrap_or(if ssl { 5443 } else { 5240 });
    let full = format!("{scheme}://{host}:{port}/MAAS/api/2.0/");
    oxha_http::reqwest::Url::parse(&full).map_err(|e| format!("ip '{ip}': {e}"))?;
    Ok(full)
}

/// The one machine `plug` names among `candidates` (as MAAS returned them for the hostname or
/// id filter), or why there is not exactly one.
pub fn pick_machine(
    plug: &str,
    is_fqdn: bool,
    candidates: Vec<Machine>,
) -> Result<Machine, String> {
    let matching: Vec<Machine> = candidates
        .into_iter()
        .filter(|m| {
            if is_fqdn {
                m.fqdn.eq_ignore_ascii_case(plug)
            } else {
                m.hostname.eq_ignore_ascii_case(plug) || m.system_id == plug
            }
        })
        .collect();
    match matching.len() {
        1 => matching
            .into_iter()
            .next()
            .ok_or_else(|| format!("no MAAS machine matches '{plug}'")),
        0 if is_fqdn => Err(format!(
            "no MAAS machine has the FQDN '{plug}' (checked the machines with that short hostname)"
        )),
        0 => Err(format!(
            "no MAAS machine has the hostname or system_id '{plug}'"
        )),
        n => {
            let ids: Vec<&str> = matching.iter().map(|m| m.system_id.as_str()).collect();
            Err(format!(
                "'{plug}' matches {n} MAAS machines ({}); use the FQDN or system_id",
                ids.join(", ")
            ))
        }
    }
}

pub struct MaasClient {
    base: reqwest::Url,
    key: ApiKey,
    http: reqwest::blocking::Client,
    /// One request's timeout (`shell_timeout`), before the budget cut.
    request_timeout: Duration,
    /// The end of the invocation's budget (`total_timeout`).
    budget: Deadline,
}

/// Longest error body quoted in a message (MAAS error bodies are short text; proxies' are not).
const BODY_QUOTE: usize = 200;
/// Below this, a request is not worth starting.
const SMALLEST_REQUEST: Duration = Duration::from_millis(200);

/// How many times one request is sent while MAAS answers 503 soon to be over, or refuses the
/// connection. A 503 is MAAS saying it did nothing and when to come back (`Retry-After`): the
/// region (or the proxy in front of it) has more requests than it can take, as when a rack
/// fails and every fencer asks at once, or no rack controller reaches the BMC. A refused
/// connection is a region restarting. Neither did anything, so repeating the request is safe,
/// power_off included (a machine told twice to power off is off). A 503 that asks for more
/// than [`MAX_RETRY_WAIT`] fails at once, so the fencer can try another device or level; so
/// does a timeout, which may have been acted on and used up its share of the fencer's time.
pub const RETRY_ATTEMPTS: u32 = 3;
/// The longest `Retry-After` waited for.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// The wait before repeating a request, or `None` when `Retry-After` asks for more than
/// [`MAX_RETRY_WAIT`]: `Retry-After` (1 s without one), stretched by a random 0–50 % so agents
/// refused together do not all come back together.
pub fn retry_wait(retry_after: Option<Duration>) -> Option<Duration> {
    use std::hash::{BuildHasher, Hasher};
    let base = retry_after.unwrap_or(Duration::from_secs(1));
    if base > MAX_RETRY_WAIT {
        return None;
    }
    let base = base.max(Duration::from_millis(200));
    // A per-process random key: enough to spread agents apart.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Some(base.mul_f64(1.0 + (random % 1000) as f64 / 2000.0))
}

fn quote_body(body: &str) -> String {
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(BODY_QUOTE) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

fn transport_error(e: reqwest::Error) -> MaasError {
    // reqwest's messages include the URL, which holds no secret (the key only travels in
    // the Authorization header).
    let text = oxha_http::error_chain(&e);
    if e.is_timeout() {
        MaasError::Timeout(text)
    } else {
        MaasError::Connect(text)
    }
}

impl MaasClient {
    /// A client for the API at `base` (`…/MAAS/api/2.0/`) under `policy`, whose requests each
    /// get `request_timeout`, cut to what is left of `budget`.
    pub fn new(
        base: &str,
        key: ApiKey,
        policy: &oxha_http::Policy,
        request_timeout: Duration,
        budget: Deadline,
    ) -> Result<MaasClient, String> {
        let base = reqwest::Url::parse(base).map_err(|e| format!("MAAS URL {base}: {e}"))?;
        let http = policy.client()?;
        Ok(MaasClient {
            base,
            key,
            http,
            request_timeout,
            budget,
        })
    }

    /// A transport error; a timeout that used up the budget says so.
    fn transport_error(&self, e: reqwest::Error) -> MaasError {
        match transport_error(e) {
            MaasError::Timeout(m)
                if self
                    .budget
                    .remaining()
                    .is_some_and(|r| r < SMALLEST_REQUEST) =>
            {
                MaasError::Timeout(format!("total_timeout is used up: {m}"))
            }
            other => other,
        }
    }

    /// This request's timeout, or why there is no time left for one.
    fn timeout(&self) -> Result<Duration, MaasError> {
        let wanted = if self.request_timeout.is_zero() {
            Duration::from_secs(3600)
        } else {
            self.request_timeout
        };
        let left = self.budget.cap(wanted);
        if left < SMALLEST_REQUEST {
            return Err(MaasError::Timeout(
                "total_timeout is used up: no time left for another request".into(),
            ));
        }
        Ok(left)
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<reqwest::Url, MaasError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| MaasError::Body(format!("bad path {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// A request, repeated while MAAS answers 503 or refuses the connection (see
    /// [`RETRY_ATTEMPTS`]); non-2xx answers become errors. The response is returned unread.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> Result<reqwest::blocking::Response, MaasError> {
        let mut attempt = 1;
        loop {
            let (error, retry_after) = match self.send_once(method.clone(), path, query, form) {
                Ok(resp) => return Ok(resp),
                Err(failed) => failed,
            };
            let again = matches!(
                error,
                MaasError::Connect(_) | MaasError::Http { status: 503, .. }
            );
            let wait = match retry_wait(retry_after) {
                Some(wait) if again && attempt < RETRY_ATTEMPTS => wait,
                _ => return Err(error),
            };
            // Only if a request still fits after the wait.
            if self
                .budget
                .remaining()
                .is_some_and(|left| left < wait + SMALLEST_REQUEST * 2)
            {
                return Err(error);
            }
            ocf_lib::info!(
                "{method} {path}: {error}; again in {:.1} s",
                wait.as_secs_f64()
            );
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// One request: the response, or the error and the `Retry-After` that came with it.
    fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> Result<reqwest::blocking::Response, (MaasError, Option<Duration>)> {
        let failed = |e: MaasError| (e, None);
        let url = self.url(path, query).map_err(failed)?;
        // The query is not part of a PLAINTEXT signature (and oauth1-request wants it apart).
        let mut bare = url.clone();
        bare.set_query(None);
        let auth = self.key.authorization(method.as_str(), bare.as_str());
        ocf_lib::debug!("{} {}", method, url);
        let mut req = self
            .http
            .request(method, url)
            .timeout(self.timeout().map_err(failed)?)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(form) = form {
            req = req.form(form);
        }
        let resp = req.send().map_err(|e| failed(self.transport_error(e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if let Some(why) = oxha_http::refused_redirect(&resp) {
            return Err(failed(MaasError::Http {
                status: status.as_u16(),
                body: why,
            }));
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().unwrap_or_default();
        Err(error_answer(status.as_u16(), retry_after.as_deref(), &body))
    }

    /// A GET whose body is read whole.
    fn get_text(&self, path: &str, query: &[(&str, &str)]) -> Result<String, MaasError> {
        self.send(reqwest::Method::GET, path, query, None)
            .and_then(|r| r.text().map_err(|e| self.transport_error(e)))
    }

    pub fn machines(&self, query: &[(&str, &str)]) -> Result<Vec<Machine>, MaasError> {
        parse_machines(&self.get_text("machines/", query)?)
    }

    pub fn machine(&self, system_id: &str) -> Result<Machine, MaasError> {
        let body = self.get_text(&format!("machines/{}/", path_segment(system_id)?), &[])?;
        parse_machine(system_id, &body)
    }

    /// Live power state from the BMC (MAAS waits up to 60 s for it).
    pub fn query_power_state(&self, system_id: &str) -> Result<String, MaasError> {
        let body = self.get_text(
            &format!("machines/{}/", path_segment(system_id)?),
            &[("op", "query_power_state")],
        )?;
        parse_power_state(&body)
    }

    fn power(&self, system_id: &str, form: &[(&str, &str)]) -> Result<(), MaasError> {
        let op = form.first().map(|(_, v)| *v).unwrap_or("power");
        let body = self
            .send(
                reqwest::Method::POST,
                &format!("machines/{}/", path_segment(system_id)?),
                &[],
                Some(form),
            )?
            .text()
            .map_err(|e| self.transport_error(e))?;
        parse_power_answer(op, &body)
    }

    pub fn power_off(
        &self,
        system_id: &str,
        stop_mode: &str,
        comment: &str,
    ) -> Result<(), MaasError> {
        let mut form = vec![("op", "power_off"), ("stop_mode", stop_mode)];
        if !comment.is_empty() {
            form.push(("comment", comment));
        }
        self.power(system_id, &form)
    }

    pub fn power_on(&self, system_id: &str, comment: &str) -> Result<(), MaasError> {
        let mut form = vec![("op", "power_on")];
        if !comment.is_empty() {
            form.push(("comment", comment));
        }
        self.power(system_id, &form)
    }

    pub fn list_machines(
        &self,
        query: &[(&str, String)],
        mut each: impl FnMut(ListedMachine),
    ) -> Result<(), MaasError> {
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = self.send(reqwest::Method::GET, "machines/", &pairs, None)?;
        parse_machine_list(resp, &mut each)
    }

    pub fn whoami(&self) -> Result<String, MaasError> {
        parse_whoami(&self.get_text("users/", &[("op", "whoami")])?)
    }
}

/// A system_id as one URL path segment: MAAS ids are short lowercase alphanumerics; anything
/// else would change the path.
fn path_segment(id: &str) -> Result<&str, MaasError> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(id)
    } else {
        Err(MaasError::Body(format!(
            "MAAS returned an unusable system_id '{id}'"
        )))
    }
}
