//! Keystone v3: password authentication, the token's service catalog, endpoint lookup.

use crate::params::Credentials;
use ocf_lib::Secret;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The body of `POST /v3/auth/tokens` (the password is exposed here and nowhere else).
pub fn password_request(c: &Credentials, password: &Secret) -> serde_json::Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": c.username,
            "domain": {"name": c.user_domain_name},
            "password": password.expose()}}},
        "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}
    }})
}

/// `…/v3/auth/tokens` for an `auth_url` with or without `/v3`.
pub fn tokens_url(auth_url: &str) -> String {
    let base = auth_url.trim_end_matches('/');
    if base.ends_with("/v3") {
        format!("{base}/auth/tokens")
    } else {
        format!("{base}/v3/auth/tokens")
    }
}

/// The answer to a token request, as far as the agents use it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TokenAnswer {
    pub token: TokenBody,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TokenBody {
    #[serde(default)]
    pub catalog: Vec<CatalogService>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct CatalogService {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub endpoints: Vec<CatalogEndpoint>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct CatalogEndpoint {
    #[serde(default)]
    pub interface: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub region_id: Option<String>,
    pub url: String,
}

/// The URL of the first endpoint of a service of one of `types` for `interface` in `region`.
pub fn endpoint(
    catalog: &[CatalogService],
    types: &[&str],
    region: &str,
    interface: &str,
) -> Option<String> {
    catalog
        .iter()
        .filter(|s| types.contains(&s.kind.as_str()))
        .flat_map(|s| s.endpoints.iter())
        .find(|e| {
            e.interface == interface
                && (e.region.as_deref() == Some(region) || e.region_id.as_deref() == Some(region))
        })
        .map(|e| e.url.clone())
}
