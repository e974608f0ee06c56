//! Nova's os-services: marking a compute host's nova-compute service `forced_down`, so nova
//! accepts evacuations from it at once instead of after `service_down_time`.

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

/// Marks the nova-compute service of `host` forced down. Already forced down is success.
pub fn force_down(session: &mut Session, host: &str) -> Result<NovaService, Failure> {
    let base = session.endpoint(
        SERVICE_TYPES,
        None,
        "auth_mode=keystone (the compute endpoint comes from the catalog)",
    )?;
    let mut list = Url::parse(&join(&base, "os-services"))
        .map_err(|e| Failure::Refused(0, format!("compute endpoint {base}: {e}")))?;
    list.query_pairs_mut()
        .append_pair("binary", "nova-compute")
        .append_pair("host", host);
    let services: ServiceList = session.get_json(list.as_str(), &[MICROVERSION])?;
    let service = match services.services.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(Failure::Refused(
                404,
                format!("nova has no nova-compute service on host '{host}'"),
            ))
        }
        many => {
            return Err(Failure::Refused(
                409,
                format!(
                    "nova has {} nova-compute services on host '{host}'",
                    many.len()
                ),
            ))
        }
    };
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
