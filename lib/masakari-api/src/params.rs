//! The connection parameter group, declared once: an agent lists [`CONNECTION_PARAMS`] in its
//! `param_groups` and reads it back with [`Connection::from_params`].

use ocf_lib::{Param, Params, Secret};
use oxha_http::reqwest::Url;
use std::time::Duration;

/// How to reach and authenticate to Masakari (value names are for the fence command line).
pub static CONNECTION_PARAMS: &[Param] = &[
    Param::string("masakari_url", "Masakari API endpoint").value_name("url")
        .longdesc("The Masakari v1 endpoint, e.g. http://vip:15868/v1. Required with auth_mode=noauth; with keystone it overrides the catalog's instance-ha endpoint."),
    Param::select("auth_mode", &["keystone", "noauth"], "Authentication")
        .value_name("mode")
        .longdesc("keystone: keystone v3 password authentication (the user needs the admin role, as for masakari-monitors). noauth: no token, for a Masakari running auth_strategy=noauth2.")
        .default("keystone"),
    Param::string("auth_url", "Keystone URL").longdesc("Keystone identity endpoint, e.g. http://keystone:5000/v3 (/v3 is appended when missing).").value_name("url"),
    Param::string("username", "Keystone user").value_name("name"),
    Param::string("password", "Keystone password").value_name("password")
        .longdesc("Keystone password. Never logged and never shown in errors.")
        .secret(),
    Param::string("project_name", "Keystone project").value_name("name"),
    Param::string("user_domain_name", "Keystone user domain").default("Default").value_name("domain"),
    Param::string("project_domain_name", "Keystone project domain").default("Default").value_name("domain"),
    Param::string("region_name", "Region of the catalog endpoints (instance-ha, compute)").default("RegionOne").value_name("region"),
    Param::select("interface", &["public", "internal", "admin"], "Catalog interface of the endpoints (instance-ha, compute)")
        .value_name("interface")
        .default("public"),
    Param::string("ca_file", "CA bundle (PEM) trusted besides the system store, for Masakari's and keystone's certificates")
        .value_name("file")
        .longdesc("A PEM bundle of CA certificates trusted in addition to the system's store (/etc/ssl/certs), e.g. the Vault CA of a Charmed OpenStack."),
    Param::boolean("insecure", "Do not verify TLS certificates").default("false"),
    Param::duration("request_timeout", "Timeout of one HTTP request").default("10s").value_name("seconds"),
    Param::string("proxy", "HTTP proxy to reach keystone and Masakari through (none by default)")
        .value_name("url")
        .longdesc("http://host:port of a proxy for every request. Without it no proxy is used: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY in the environment are ignored."),
];

/// Where the keystone password comes from.
#[derive(Clone, Debug)]
pub enum Password {
    /// The `password` parameter (through cibsecret, or filled by a fence agent's
    /// `password_script` before the connection is read).
    Given(Secret),
    /// A resource agent's `password_script` (the command, not a secret): run when a session
    /// first needs a token, so a monitor with nothing to send runs nothing.
    Script(String),
}

impl Password {
    /// The password itself, running the script if there is one (within `deadline`).
    pub fn resolve(&self, deadline: &ocf_lib::Deadline) -> Result<Secret, String> {
        match self {
            Password::Given(p) => Ok(p.clone()),
            Password::Script(script) => ocf_lib::password_script::run(script, deadline),
        }
    }
}

/// Keystone v3 password credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub auth_url: Url,
    pub username: String,
    pub password: Password,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

#[derive(Clone, Debug)]
pub enum Auth {
    Keystone(Box<Credentials>),
    /// Masakari with `auth_strategy = noauth2`: no token at all.
    NoAuth,
}

/// Everything needed to talk to Masakari (and nova), from the connection parameters.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Explicit endpoint; else the catalog's `instance-ha` entry.
    pub masakari_url: Option<Url>,
    pub auth: Auth,
    pub region_name: String,
    pub interface: String,
    /// One request's timeout, before it is cut to the caller's deadline.
    pub request_timeout: Duration,
    /// A CA bundle trusted besides the system store, read when a session starts.
    pub ca_file: Option<String>,
    /// Proxy, certificate checks, connect timeout: the HTTP client's policy.
    pub policy: oxha_http::Policy,
}

impl Connection {
    /// Reads the group; errors name the parameter (never a secret's value).
    pub fn from_params(params: &Params) -> Result<Connection, String> {
        let request_timeout = params
            .duration("request_timeout")
            .map_err(|e| e.to_string())?
            .unwrap_or(Duration::from_secs(10));
        let masakari_url = params
            .string("masakari_url")
            .map(|u| oxha_http::check_url(&u, "masakari_url"))
            .transpose()?;
        let auth = match params.string("auth_mode").as_deref() {
            Some("noauth") => {
                if masakari_url.is_none() {
                    return Err("auth_mode=noauth needs masakari_url".into());
                }
                Auth::NoAuth
            }
            _ => {
                let need = |name: &str| {
                    params
                        .string(name)
                        .ok_or_else(|| format!("auth_mode=keystone needs {name}"))
                };
                let auth_url = oxha_http::check_url(&need("auth_url")?, "auth_url")?;
                let username = need("username")?;
                // A resource agent's password_script, when it declares one; a fence agent's
                // has already run and filled `password` (ocf_lib::fence).
                let declares_script = params.meta().param("password_script").is_some();
                let script = declares_script
                    .then(|| params.string("password_script"))
                    .flatten();
                let resolved_by_fence_lib = params.meta().kind == ocf_lib::AgentKind::Fence;
                let password = match (params.string("password"), script) {
                    (Some(_), Some(_)) if !resolved_by_fence_lib => {
                        return Err(
                            "set password or password_script, not both: which one is meant?".into(),
                        )
                    }
                    (Some(p), _) => Password::Given(Secret::new(p)),
                    (None, Some(script)) => Password::Script(script),
                    (None, None) if declares_script => {
                        return Err("auth_mode=keystone needs password or password_script".into())
                    }
                    (None, None) => return Err("auth_mode=keystone needs password".into()),
                };
                Auth::Keystone(Box::new(Credentials {
                    auth_url,
                    username,
                    password,
                    project_name: need("project_name")?,
                    user_domain_name: need("user_domain_name")?,
                    project_domain_name: need("project_domain_name")?,
                }))
            }
        };
        let mut policy =
            oxha_http::Policy::new(concat!("oxha-masakari/", env!("CARGO_PKG_VERSION")));
        policy.connect_timeout = request_timeout;
        policy.timeout = request_timeout;
        policy.insecure = params.bool("insecure").map_err(|e| e.to_string())?;
        policy.proxy = params.string("proxy");
        // Only noauth with a plain-HTTP Masakari can never meet TLS (a keystone catalog may
        // name https endpoints whatever auth_url is).
        policy.system_roots = !(matches!(auth, Auth::NoAuth)
            && masakari_url.as_ref().is_some_and(|u| u.scheme() == "http"));
        if let Some(proxy) = &policy.proxy {
            oxha_http::check_url(proxy, "proxy")?;
        }
        Ok(Connection {
            ca_file: params.string("ca_file"),
            masakari_url,
            auth,
            region_name: params
                .string("region_name")
                .unwrap_or_else(|| "RegionOne".into()),
            interface: params
                .string("interface")
                .unwrap_or_else(|| "public".into()),
            request_timeout,
            policy,
        })
    }
}
