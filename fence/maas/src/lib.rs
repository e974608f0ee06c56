//! `fence_maas`: fences machines through the MAAS 2.0 REST API.
//!
//! MAAS power operations are asynchronous: `op=power_off` answers 200 with the machine as it
//! was, and the power change happens later (or never: manual power types answer `null`). So
//! nothing MAAS says in reply to a power request counts as proof; only live
//! `op=query_power_state` readings of `off`, without a break for `confirm_interval`, do.
//! ocf-lib runs the protocol (options, delay, off → confirm → on, the readings and their
//! schedule, exit codes); this crate is the MAAS side of it.

/// The MAAS client, shared with oxha-check (lib/maas-api).
pub use oxha_maas_api as api;
pub use oxha_maas_api::{base_url, pick_machine};

use api::{Access, ApiKey, MaasClient, MaasError, Machine};
use ocf_lib::fence::{opt, FenceAgent, FenceContext, FenceError, Plug, PowerState};
use ocf_lib::{AgentKind, AgentMeta, ManSection, Param};
use std::collections::HashMap;

static PARAMS: &[Param] = &[
    Param::string("ip", "IP address or hostname of the MAAS region controller")
        .short('a')
        .value_name("ip")
        .aliases(&["ipaddr"])
        .longdesc("IP address or hostname of the MAAS region API. Either this (with ipport) or maas_url is required."),
    Param::integer("ipport", "TCP port of the MAAS API (5240, or 5443 with ssl)")
        .short('u')
        .longdesc("TCP port of the MAAS region API. Default 5240, or 5443 when ssl/ssl_secure/ssl_insecure is set."),
    Param::string("maas_url", "Full MAAS URL, e.g. http://10.0.0.3:5240/MAAS")
        .value_name("url")
        .aliases(&["url"])
        .longdesc("The MAAS URL as given to the MAAS CLI (http://host:5240/MAAS); /api/2.0/ is appended. Overrides ip/ipport. `url` is the name the charm-hacluster external/maas plugin used."),
    Param::string("api_key", "MAAS API key (consumer_key:token_key:token_secret)")
        .value_name("key")
        .aliases(&["apikey"])
        .secret()
        .longdesc("The MAAS API key of the user fence_maas acts as. Prefer api_key_file or password_script, or store it with cibsecret, so it is not kept in clear text in the CIB. `apikey` is the charm-hacluster plugin's name."),
    opt::PASSWORD.longdesc("Same as api_key (the fence-agents name)."),
    opt::PASSWORD_SCRIPT,
    Param::string("api_key_file", "File holding the MAAS API key (first line)")
        .value_name("path")
        .longdesc("A file (readable by root only) whose first line is the MAAS API key."),
    opt::SSL,
    opt::SSL_SECURE,
    opt::SSL_INSECURE,
    Param::string("ssl_ca", "CA certificate bundle (PEM) to verify the MAAS certificate with")
        .value_name("path")
        .longdesc("A PEM bundle of CA certificates trusted besides the system's store (/etc/ssl/certs), e.g. the CA that issued MAAS's certificate."),
    Param::string("proxy", "HTTP proxy to reach MAAS through (none by default)")
        .value_name("url")
        .longdesc("http://host:port of a proxy to send MAAS requests through. Without it no proxy is used: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY in the environment are ignored."),
    Param::select(
        "stop_mode",
        &["hard", "soft"],
        "MAAS stop_mode for power_off: hard (default) or soft",
    )
    .default("hard")
    .longdesc("Passed to MAAS power_off. Fencing needs hard; soft asks the OS to shut down and may never finish."),
    Param::string("comment", "Comment recorded in the MAAS event log with each power action")
        .value_name("text")
        .default("Fenced by Pacemaker (fence_maas)"),
    Param::string("hostnames", "Machines this device fences (space or comma separated); limits list")
        .value_name("names")
        .longdesc("The charm-hacluster plugin's list of hosts. When set, list reports only these machines (short names or FQDNs) and asks MAAS only for them."),
    Param::string("tag", "list: only machines with this MAAS tag").value_name("tag"),
    Param::string("zone", "list: only machines in this MAAS zone").value_name("zone"),
    Param::string("pool", "list: only machines in this MAAS resource pool").value_name("pool"),
    // MAAS-specific timing defaults: a BMC power-off through MAAS takes seconds to tens of
    // seconds; everything stays within total_timeout (50 s), inside the fencer's default 60 s.
    Param::duration("power_timeout", "Test X seconds for status change after ON/OFF").default("40"),
    Param::duration("shell_timeout", "Wait X seconds for one MAAS API request to complete")
        .default("30"),
    Param::duration("login_timeout", "Wait X seconds to connect to the MAAS API").default("10"),
    Param::duration(
        "stonith_status_sleep",
        "Longest wait (s) between status readings during a power change",
    )
    .default("2")
    .longdesc("After a power request the first status reading comes at once, the next 0.25 s later, and each wait is 1.5 times the last, up to this: a machine MAAS powers off within a second is seen off within a second, and a slow BMC is read every stonith_status_sleep seconds, not more often."),
    opt::CONFIRM_INTERVAL.default("1"),
];

static MAN: &[ManSection] = &[
    ManSection {
        title: "EXAMPLES",
        body: "pcs, with the key in a root-only file on every node:

  pcs stonith create maas fence_maas ip=10.0.0.3 api_key_file=/etc/pacemaker/maas.key \\
      pcmk_host_list=\"compute-1 compute-2\"

crmsh, with MAAS names given by pcmk_host_map and a BMC slow enough to need more time:

  crm configure primitive st-maas stonith:fence_maas \\
      params maas_url=https://maas.example:5443/MAAS api_key_file=/etc/pacemaker/maas.key \\
      pcmk_host_map=\"node1:node1.maas;node2:node2.maas\" total_timeout=110 \\
      power_timeout=90 pcmk_off_timeout=120s pcmk_reboot_timeout=120s op monitor interval=60s

From the shell:

  fence_maas -a 10.0.0.3 -S 'cat /etc/pacemaker/maas.key' -o status -n compute-1",
    },
    ManSection {
        title: "TIMEOUTS",
        body: "The fencer kills a fence agent when the device's timeout for the action passes: pcmk_off_timeout, pcmk_reboot_timeout, pcmk_status_timeout..., each defaulting to the cluster property stonith-timeout (60 s). A killed agent's result is a failure, never a success, but it logs no reason. So fence_maas keeps within total_timeout, counted from its start: 50 s for off, on and reboot, 15 s for status, list and monitor (a monitor operation's default timeout is 20 s). Each MAAS request gets shell_timeout (30 s) or what is left of total_timeout, whichever is less; the wait for MAAS to report the new power state is power_timeout (40 s), also cut to what is left; delay comes out of it too. When the time is used up the action fails with a line saying what it was waiting for.

The rule: pcmk_off_timeout and pcmk_reboot_timeout at least total_timeout + 10 s. A reboot is one invocation (off, confirmed off, on) within one total_timeout. With the defaults (50 s within 60 s) nothing needs setting. To give a slow BMC more time, raise them together, for example total_timeout=110 power_timeout=90 pcmk_off_timeout=120s pcmk_reboot_timeout=120s. In a fencing topology level the devices run one after the other, each within its own timeout.

When MAAS answers 503 asking to come back within 2 s (Retry-After: a region, or the proxy in front of it, out of workers, as when a rack fails and every fencer asks at once), or refuses the connection, the request is repeated after that long plus a random 0-50 %, at most 3 times, while total_timeout allows; power_off included, since MAAS did nothing. A 503 asking for longer fails at once, so the fencer can move to another device or level. To fence many nodes at once, set the cluster property concurrent-fencing=true (Pacemaker 2.1 fences one node at a time without it) and this device's pcmk_action_limit (default 1: one action at a time per device and node; -1: no limit).",
    },
    ManSection {
        title: "TARGETS",
        body: "The plug (port) may be a MAAS short hostname, an FQDN (the machine's fqdn must match) or a MAAS system_id. Exactly one machine must match; otherwise the action fails with a message saying why.

list prints hostname,fqdn for every machine (restricted by hostnames, tag, zone, pool), so pcmk_host_check=dynamic-list matches either name.",
    },
    ManSection {
        title: "SAFETY",
        body: "off is reported only after live query_power_state readings answer off without a break for confirm_interval (1 s): the first that says off, then one every quarter of it, until one that began a full confirm_interval after the first, all within power_timeout. A machine read off and then on again after the power-off was sent fails the action at once (its state flaps, or someone powered it on); the fencer may retry. A null answer (power type manual), unknown, error, 403 (locked), 409, 503, 504 and timeouts are failures too. status reports one live reading.

Requests go straight to the configured MAAS URL: a redirect answer is an error and is never followed (with the Authorization header), no proxy is used unless the proxy parameter names one (HTTP_PROXY and the like are ignored), and a URL with a user name or password in it is refused.

reboot powers on only after off is confirmed: MAAS power_on on a running machine power-cycles it. on refuses machines whose status is not Deployed (power_on on an Allocated machine starts a deployment, on a Ready one MAAS answers 409), and never sends power_on to a machine that reads on.",
    },
    ManSection {
        title: "DIFFERENCES FROM stonith:external/maas",
        body: "Parameters url, apikey and hostnames keep working, so switching is a change of class (stonith:external/maas to stonith:fence_maas). The API key may instead come from api_key_file, password_script or cibsecret. It is never logged (the old plugin appended its log to /tmp/maas.log); given on the command line (--api-key, -p) it is accepted with a warning, since every user of the host can read a command line.

off and on are verified by live power queries (the plugin sent one request and reported success); reset waited 10 s on a cached field, fence_maas waits up to power_timeout (40 s) on live queries. monitor makes an authenticated call (the plugin's status only fetched the anonymous version page). The fencer sees real exit codes (the plugin ran behind fence_legacy, which reports any failure as 1 and never off).",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "fence_maas",
    kind: AgentKind::Fence,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Fence agent for machines managed by Canonical MAAS",
    longdesc: "fence_maas powers machines off and on through the MAAS 2.0 REST API (OAuth 1.0 PLAINTEXT with a MAAS API key). MAAS power operations are asynchronous, so an off is reported only once live power queries confirm it. Targets are MAAS hostnames, FQDNs or system_ids.",
    params: PARAMS,
    param_groups: &[ocf_lib::fence::STANDARD_OPTIONS],
    actions: ocf_lib::fence::MULTI_PLUG_ACTIONS,
    man_sections: MAN,
};

pub struct MaasFence {
    client: MaasClient,
    /// plug → machine, so one invocation resolves each target once.
    resolved: HashMap<String, Machine>,
    hostnames: Vec<String>,
    tag: Option<String>,
    zone: Option<String>,
    pool: Option<String>,
    stop_mode: String,
    comment: String,
}

fn words(v: &str) -> Vec<String> {
    v.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Where the API key comes from: api_key/password (password_script fills password), else the
/// first line of api_key_file.
fn api_key(ctx: &FenceContext) -> Result<ApiKey, FenceError> {
    let p = &ctx.params;
    let text = if let Some(k) = p.string("api_key").or_else(|| p.string("password")) {
        k
    } else if let Some(path) = p.string("api_key_file") {
        let content = std::fs::read_to_string(&path)
            .map_err(|e| FenceError::config(format!("api_key_file {path}: {e}")))?;
        let first = content.lines().next().unwrap_or("").trim().to_string();
        ocf_lib::log::register_secret(&first);
        first
    } else {
        return Err(FenceError::config(
            "no MAAS API key: set api_key (or password), password_script or api_key_file",
        ));
    };
    ApiKey::parse(&text).map_err(FenceError::config)
}

fn fence_error(e: MaasError) -> FenceError {
    let message = e.to_string();
    match e {
        MaasError::Unauthorized(_) => FenceError::login(message),
        MaasError::Connect(_) => FenceError::connection(message),
        MaasError::Timeout(_) => FenceError::timed_out(message),
        MaasError::Http { .. } | MaasError::Body(_) => FenceError::status(message),
    }
}

impl MaasFence {
    /// Resolves a plug to exactly one machine: a short hostname, an FQDN (whose `fqdn` must
    /// match) or a system_id.
    fn machine(&mut self, plug: &str) -> Result<Machine, FenceError> {
        if let Some(m) = self.resolved.get(plug) {
            return Ok(m.clone());
        }
        let plug_trimmed = plug.trim();
        if plug_trimmed.is_empty() {
            return Err(FenceError::config("empty plug"));
        }
        let (short, fqdn) = match plug_trimmed.split_once('.') {
            Some((s, _)) => (s, Some(plug_trimmed)),
            None => (plug_trimmed, None),
        };
        let by_name = self
            .client
            .machines(&[("hostname", short)])
            .map_err(fence_error)?;
        let candidates = if by_name.is_empty() && fqdn.is_none() {
            self.client
                .machines(&[("id", plug_trimmed)])
                .map_err(fence_error)?
        } else {
            by_name
        };
        let machine =
            pick_machine(plug_trimmed, fqdn.is_some(), candidates).map_err(FenceError::status)?;
        ocf_lib::debug!(
            "{plug} is MAAS machine {} ({}), status {}",
            machine.system_id,
            machine.fqdn,
            machine.status_name
        );
        self.resolved.insert(plug.to_string(), machine.clone());
        Ok(machine)
    }

    fn live_state(&mut self, system_id: &str) -> Result<String, FenceError> {
        self.client
            .query_power_state(system_id)
            .map_err(fence_error)
    }
}

/// A `query_power_state` answer as a fence state: only `on` and `off` are states.
pub fn power_state(word: &str) -> Result<PowerState, String> {
    match word {
        "on" => Ok(PowerState::On),
        "off" => Ok(PowerState::Off),
        other => Err(format!(
            "MAAS reports power state '{other}' (not on or off): the machine's power cannot be confirmed"
        )),
    }
}

/// Does a listed machine pass the tag/zone/pool/hostnames filters?
pub fn list_filter(
    m: &api::ListedMachine,
    hostnames: &[String],
    tag: Option<&str>,
    zone: Option<&str>,
    pool: Option<&str>,
) -> bool {
    let name_ok = hostnames.is_empty()
        || hostnames
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&m.hostname) || h.eq_ignore_ascii_case(&m.fqdn));
    let tag_ok = tag.is_none_or(|t| m.tag_names.iter().any(|x| x == t));
    let zone_ok = zone.is_none_or(|z| m.zone.as_deref() == Some(z));
    let pool_ok = pool.is_none_or(|p| m.pool.as_deref() == Some(p));
    name_ok && tag_ok && zone_ok && pool_ok
}

impl FenceAgent for MaasFence {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_options(ctx: &FenceContext) -> Result<Self, FenceError> {
        let p = &ctx.params;
        let insecure = p.bool("ssl_insecure")?;
        let ssl = p.bool("ssl")? || p.bool("ssl_secure")? || insecure;
        let port = p.integer::<u16>("ipport")?;
        let base = base_url(
            p.string("maas_url").as_deref(),
            p.string("ip").as_deref(),
            port,
            ssl,
        )
        .map_err(FenceError::config)?;
        let key = api_key(ctx)?;
        let access = Access {
            base: base.clone(),
            insecure,
            proxy: p.string("proxy"),
            ssl_ca: p.string("ssl_ca"),
        };
        let policy = access
            .policy(
                concat!("fence_maas/", env!("CARGO_PKG_VERSION")),
                ctx.connect_timeout,
                ctx.request_timeout,
            )
            .map_err(FenceError::config)?;
        let client = MaasClient::new(&base, key, &policy, ctx.request_timeout, ctx.budget)
            .map_err(FenceError::config)?;
        Ok(MaasFence {
            client,
            resolved: HashMap::new(),
            hostnames: p.string("hostnames").map(|h| words(&h)).unwrap_or_default(),
            tag: p.string("tag"),
            zone: p.string("zone"),
            pool: p.string("pool"),
            stop_mode: p.string("stop_mode").unwrap_or_else(|| "hard".into()),
            comment: p.string("comment").unwrap_or_default(),
        })
    }

    fn get_power_status(
        &mut self,
        _ctx: &FenceContext,
        plug: &str,
    ) -> Result<PowerState, FenceError> {
        // One live reading: ocf-lib confirms off over confirm_interval.
        let machine = self.machine(plug)?;
        power_state(&self.live_state(&machine.system_id)?).map_err(FenceError::status)
    }

    fn set_power_status(
        &mut self,
        _ctx: &FenceContext,
        plug: &str,
        state: PowerState,
    ) -> Result<(), FenceError> {
        let machine = self.machine(plug)?;
        let id = machine.system_id.clone();
        match state {
            PowerState::Off => {
                ocf_lib::info!(
                    "{plug}: asking MAAS to power off {id} (stop_mode={})",
                    self.stop_mode
                );
                self.client
                    .power_off(&id, &self.stop_mode, &self.comment)
                    .map_err(|e| FenceError::power(format!("power_off of {plug}: {e}")))
            }
            PowerState::On => {
                // Fresh status, not the one cached at resolution: it decides whether power_on
                // would deploy (Allocated) or be refused (Ready).
                let now = self.client.machine(&id).map_err(fence_error)?;
                if now.status_name != "Deployed" {
                    return Err(FenceError::power(format!(
                        "{plug} is '{}' in MAAS, not Deployed: refusing power_on (on an Allocated machine it starts a deployment)",
                        now.status_name
                    )));
                }
                // power_on on a running machine power-cycles it: never send it to one that reads on.
                if self.live_state(&id)? == "on" {
                    ocf_lib::info!("{plug}: already on, not sending power_on");
                    return Ok(());
                }
                ocf_lib::info!("{plug}: asking MAAS to power on {id}");
                self.client
                    .power_on(&id, &self.comment)
                    .map_err(|e| FenceError::power(format!("power_on of {plug}: {e}")))
            }
        }
    }

    fn list(&mut self, _ctx: &FenceContext) -> Result<Vec<Plug>, FenceError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        for h in &self.hostnames {
            let short = h.split('.').next().unwrap_or(h);
            query.push(("hostname", short.to_string()));
        }
        let hostnames = self.hostnames.clone();
        let (tag, zone, pool) = (self.tag.clone(), self.zone.clone(), self.pool.clone());
        let mut plugs = Vec::new();
        self.client
            .list_machines(&query, |m| {
                if list_filter(
                    &m,
                    &hostnames,
                    tag.as_deref(),
                    zone.as_deref(),
                    pool.as_deref(),
                ) {
                    let state = power_state(&m.power_state).ok();
                    plugs.push(Plug {
                        id: m.hostname,
                        alias: m.fqdn,
                        state,
                    });
                }
            })
            .map_err(fence_error)?;
        Ok(plugs)
    }

    fn monitor(&mut self, _ctx: &FenceContext) -> Result<(), FenceError> {
        let user = self.client.whoami().map_err(fence_error)?;
        ocf_lib::debug!("MAAS API reachable, authenticated as {user}");
        Ok(())
    }
}

#[cfg(test)]
mod tests;

ocf_lib::man_page_test!(META);
