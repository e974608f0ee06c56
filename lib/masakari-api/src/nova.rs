//! Nova's os-services: marking a compute host's nova-compute service `forced_down`, so nova
//! accepts evacuations from it at once instead of after `service_down_time`; stopping a
//! server whose guest crashed (what nova's own power-state sync does, sooner); and, for
//! oxha-check, the nova-compute services and hypervisors as they are.

use crate::error::{classify, Failure};
use crate::session::{join, Session};
use oxha_http::reqwest::{Method, Url};
use serde::Deserialize;

/// The catalog type of nova.
pub const SERVICE_TYPES: &[&str] = &["compute"];
/// `PUT /os-services/{id}` with a service uuid exists from this microversion.
pub const MICROVERSION: (&str, &str) = ("OpenStack-API-Version", "compute 2.53");

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct NovaService {
    /// A uuid from microversion 2.53 on.
    pub id: serde_json::Value,
    #[serde(default)]
    pub binary: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub forced_down: bool,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub status: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ServiceList {
    #[serde(default)]
    pub services: Vec<NovaService>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ServiceAnswer {
    pub service: NovaService,
}

/// A hypervisor as `os-hypervisors/detail` lists it at microversion 2.1 (later microversions
/// drop the usage figures), with what oxha-check compares.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Hypervisor {
    #[serde(default)]
    pub hypervisor_hostname: String,
    /// The nova-compute service's host (`service.host`).
    #[serde(default)]
    pub service: HypervisorService,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub memory_mb: u64,
    #[serde(default)]
    pub memory_mb_used: u64,
    #[serde(default)]
    pub vcpus: u64,
    #[serde(default)]
    pub vcpus_used: u64,
    #[serde(default)]
    pub running_vms: u64,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct HypervisorService {
    #[serde(default)]
    pub host: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct HypervisorList {
    #[serde(default)]
    pub hypervisors: Vec<Hypervisor>,
}

/// The compute endpoint from the catalog.
fn compute_endpoint(session: &mut Session) -> Result<String, Failure> {
    session.endpoint(
        SERVICE_TYPES,
        None,
        "auth_mode=keystone (the compute endpoint comes from the catalog)",
    )
}

/// Every nova-compute service (enabled or not, up or not).
pub fn compute_services(session: &mut Session) -> Result<Vec<NovaService>, Failure> {
    let base = compute_endpoint(session)?;
    let mut url = Url::parse(&join(&base, "os-services"))
        .map_err(|e| Failure::Refused(0, format!("compute endpoint {base}: {e}")))?;
    url.query_pairs_mut().append_pair("binary", "nova-compute");
    let list: ServiceList = session.get_json(url.as_str(), &[MICROVERSION])?;
    Ok(list.services)
}

/// Every hypervisor with its capacity and usage (`os-hypervisors/detail`, microversion 2.1).
pub fn hypervisors(session: &mut Session) -> Result<Vec<Hypervisor>, Failure> {
    let base = compute_endpoint(session)?;
    let url = join(&base, "os-hypervisors/detail");
    let list: HypervisorList = session.get_json(&url, &[])?;
    Ok(list.hypervisors)
}

/// The nova-compute service of `host`: exactly one, or a refusal saying what nova has.
pub fn compute_service(session: &mut Session, host: &str) -> Result<NovaService, Failure> {
    let base = compute_endpoint(session)?;
    let mut list = Url::parse(&join(&base, "os-services"))
        .map_err(|e| Failure::Refused(0, format!("compute endpoint {base}: {e}")))?;
    list.query_pairs_mut()
        .append_pair("binary", "nova-compute")
        .append_pair("host", host);
    let services: ServiceList = session.get_json(list.as_str(), &[MICROVERSION])?;
    match services.services.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::Refused(
            404,
            format!("nova has no nova-compute service on host '{host}'"),
        )),
        many => Err(Failure::Refused(
            409,
            format!(
                "nova has {} nova-compute services on host '{host}'",
                many.len()
            ),
        )),
    }
}

/// Whether nova counts the service down: forced down, or no heartbeat for
/// `service_down_time`. nova refuses to evacuate from a host whose service it counts up.
pub fn counted_down(service: &NovaService) -> bool {
    service.forced_down || service.state == "down"
}

/// Asks nova every `every` until `deadline` whether it counts `host`'s nova-compute service
/// down. `Ok(true)` once it does, `Ok(false)` when the deadline came first; a refusal (no
/// such service, no right to list services) ends the wait at once, and network errors and
/// 5xx are asked again, the last one returned if nova never answered.
pub fn wait_counted_down(
    session: &mut Session,
    host: &str,
    deadline: &ocf_lib::Deadline,
    every: std::time::Duration,
) -> Result<bool, Failure> {
    loop {
        let unanswered = match compute_service(session, host) {
            Ok(service) if counted_down(&service) => return Ok(true),
            Ok(_) => None,
            Err(f @ Failure::Transient(_)) => Some(f),
            Err(f) => return Err(f),
        };
        if !deadline.sleep(every) {
            return match unanswered {
                Some(f) => Err(f),
                None => Ok(false),
            };
        }
    }
}

/// Marks the nova-compute service of `host` forced down. Already forced down is success.
pub fn force_down(session: &mut Session, host: &str) -> Result<NovaService, Failure> {
    let service = compute_service(session, host)?;
    let base = compute_endpoint(session)?;
    if service.forced_down {
        return Ok(service);
    }
    let id = match &service.id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let url = join(&base, &format!("os-services/{id}"));
    let body = serde_json::json!({"forced_down": true});
    let (code, text) = session.send(Method::PUT, &url, Some(&body), &[MICROVERSION])?;
    if !(200..300).contains(&code) {
        return Err(classify(code, &text).about(&format!("nova PUT {url}")));
    }
    let answer: ServiceAnswer = serde_json::from_str(&text)
        .map_err(|e| Failure::Refused(code, format!("unreadable answer from {url}: {e}")))?;
    if !answer.service.forced_down {
        return Err(Failure::Refused(
            code,
            format!("nova did not mark host '{host}' forced_down"),
        ));
    }
    Ok(answer.service)
}

/// What nova said to `os-stop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// 202: nova-compute is stopping it.
    Requested,
    /// 409: nova will not stop it now (already stopped, or another task on it), with its reason.
    Conflict(String),
    /// 404: nova has no such server.
    NotFound,
}

/// A server as far as its stop is concerned.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ServerState {
    #[serde(rename = "OS-EXT-STS:vm_state", default)]
    pub vm_state: String,
    #[serde(rename = "OS-EXT-STS:task_state", default)]
    pub task_state: Option<String>,
}

#[derive(Deserialize)]
struct ServerAnswer {
    server: ServerState,
}

/// The path segment of a server uuid, refused when it is anything but a uuid (it comes from
/// libvirt, and ends up in a URL).
fn server_path(uuid: &str) -> Result<String, Failure> {
    if uuid.is_empty() || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Failure::Refused(
            0,
            format!("'{uuid}' is not a server uuid"),
        ));
    }
    Ok(format!("servers/{uuid}"))
}

/// `POST /servers/{uuid}/action {"os-stop": null}`.
pub fn stop_server(session: &mut Session, uuid: &str) -> Result<StopOutcome, Failure> {
    let base = compute_endpoint(session)?;
    let url = join(&base, &format!("{}/action", server_path(uuid)?));
    let body = serde_json::json!({"os-stop": null});
    let (code, text) = session.send(Method::POST, &url, Some(&body), &[])?;
    match code {
        200..=299 => Ok(StopOutcome::Requested),
        404 => Ok(StopOutcome::NotFound),
        409 => Ok(StopOutcome::Conflict(crate::error::error_message(&text))),
        _ => Err(classify(code, &text).about(&format!("nova POST {url}"))),
    }
}

/// The server's vm_state and task_state.
pub fn server_state(session: &mut Session, uuid: &str) -> Result<ServerState, Failure> {
    let base = compute_endpoint(session)?;
    let url = join(&base, &server_path(uuid)?);
    let answer: ServerAnswer = session.get_json(&url, &[])?;
    Ok(answer.server)
}
