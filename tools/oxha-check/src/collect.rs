//! Reading the [`View`]: MAAS through each fence_maas device's own parameters and client,
//! nova and Masakari through a fence_masakari device's connection parameters, both as the
//! agents would (the same HTTP and TLS policy, password_script, cibsecret). Nothing is
//! changed anywhere; no secret is printed.

use crate::rules::{
    all_nodes, host_list, host_map, levels_for, plug_for, MaasLookup, OpenStackView, View,
    MAAS_AGENT, MASAKARI_AGENT,
};
use ocf_lib::cib::{resolve_cibsecret, Cib, StonithDevice};
use ocf_lib::{AgentKind, AgentMeta, Deadline, Params};
use oxha_maas_api::{base_url, pick_machine, Access, ApiKey, MaasClient};
use oxha_masakari_api::{nova, Connection, MasakariClient, Session, CONNECTION_PARAMS};
use std::time::{Duration, SystemTime};

const USER_AGENT: &str = concat!("oxha-check/", env!("CARGO_PKG_VERSION"));

/// The fence_masakari device's connection parameters, read as fence_masakari reads them
/// (a fence agent: its password_script has filled `password` before the connection is read).
static MASAKARI_DEVICE: AgentMeta = AgentMeta {
    name: "fence_masakari",
    kind: AgentKind::Fence,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "",
    longdesc: "",
    params: &[ocf_lib::password_script::PARAM],
    param_groups: &[CONNECTION_PARAMS],
    actions: &[],
    man_sections: &[],
};

/// A device parameter by any of its names, a cibsecret reference resolved.
fn param(device: &StonithDevice, names: &[&str]) -> Result<Option<String>, String> {
    for name in names {
        if let Some(v) = device.params.get(*name) {
            return resolve_cibsecret(&device.id, name, v).map(Some);
        }
    }
    Ok(None)
}

fn flag(device: &StonithDevice, name: &str) -> Result<bool, String> {
    match device.params.get(name) {
        Some(v) => ocf_lib::params::parse_bool(v).map_err(|e| format!("{name}: {e}")),
        None => Ok(false),
    }
}

/// fence_maas's key sources, in its order: api_key (apikey, password; password_script fills
/// password), else the first line of api_key_file.
fn maas_key(device: &StonithDevice, deadline: &Deadline) -> Result<ApiKey, String> {
    let text = if let Some(k) = param(device, &["api_key", "apikey", "password", "passwd"])? {
        k
    } else if let Some(script) = param(device, &["password_script"])? {
        ocf_lib::password_script::run(&script, deadline)?
            .expose()
            .to_string()
    } else if let Some(path) = param(device, &["api_key_file"])? {
        let content =
            std::fs::read_to_string(&path).map_err(|e| format!("api_key_file {path}: {e}"))?;
        let first = content.lines().next().unwrap_or("").trim().to_string();
        ocf_lib::log::register_secret(&first);
        first
    } else {
        return Err("no MAAS API key: set api_key, password_script or api_key_file".into());
    };
    ApiKey::parse(&text)
}

fn maas_client(device: &StonithDevice, deadline: Deadline) -> Result<MaasClient, String> {
    let insecure = flag(device, "ssl_insecure")?;
    let ssl = flag(device, "ssl")? || flag(device, "ssl_secure")? || insecure;
    let port = match param(device, &["ipport"])? {
        Some(p) => Some(
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("ipport '{p}' is not a port"))?,
        ),
        None => None,
    };
    let base = base_url(
        param(device, &["maas_url", "url"])?.as_deref(),
        param(device, &["ip", "ipaddr"])?.as_deref(),
        port,
        ssl,
    )?;
    let key = maas_key(device, &deadline)?;
    let access = Access {
        base: base.clone(),
        insecure,
        proxy: param(device, &["proxy"])?,
        ssl_ca: param(device, &["ssl_ca"])?,
    };
    let timeout = Duration::from_secs(15);
    let policy = access.policy(USER_AGENT, Duration::from_secs(10), timeout)?;
    MaasClient::new(&base, key, &policy, timeout, deadline)
}

/// The nodes a device fences: its host list and map, and the targets of the levels that use it.
fn targets(cib: &Cib, device: &StonithDevice) -> Vec<String> {
    let mut nodes: Vec<String> = Vec::new();
    let mut add = |n: String| {
        if !nodes.iter().any(|x| x.eq_ignore_ascii_case(&n)) {
            nodes.push(n);
        }
    };
    if let Some(l) = device.params.get("pcmk_host_list") {
        host_list(l).into_iter().for_each(&mut add);
    }
    if let Some(m) = device.params.get("pcmk_host_map") {
        host_map(m).into_iter().for_each(|(n, _)| add(n));
    }
    for node in all_nodes(cib) {
        if levels_for(cib, &node)
            .iter()
            .any(|l| l.devices.contains(&device.id))
        {
            add(node);
        }
    }
    nodes
}

/// fence_maas's resolution of one plug: by short hostname, else (a plain name) by system_id.
fn lookup(client: &MaasClient, plug: &str) -> Result<oxha_maas_api::Machine, String> {
    let plug = plug.trim();
    let (short, is_fqdn) = match plug.split_once('.') {
        Some((s, _)) => (s, true),
        None => (plug, false),
    };
    let by_name = client
        .machines(&[("hostname", short)])
        .map_err(|e| e.to_string())?;
    let candidates = if by_name.is_empty() && !is_fqdn {
        client
            .machines(&[("id", plug)])
            .map_err(|e| e.to_string())?
    } else {
        by_name
    };
    pick_machine(plug, is_fqdn, candidates)
}

fn read_maas(view: &mut View, deadline: Deadline) {
    let devices: Vec<StonithDevice> = view
        .cib
        .stonith
        .iter()
        .filter(|d| d.agent == MAAS_AGENT)
        .cloned()
        .collect();
    for device in devices {
        let client = match maas_client(&device, deadline) {
            Ok(c) => c,
            Err(why) => {
                view.maas_failures.push((device.id.clone(), why));
                continue;
            }
        };
        if let Err(e) = client.whoami() {
            view.maas_failures.push((device.id.clone(), e.to_string()));
            continue;
        }
        for node in targets(&view.cib, &device) {
            let plug = plug_for(&view.cib, &device.id, &node);
            let machine = lookup(&client, &plug);
            view.maas.push(MaasLookup {
                device: device.id.clone(),
                node,
                plug,
                machine,
            });
        }
    }
}

/// The connection of a fence_masakari device, as fence_masakari builds it.
fn connection(device: &StonithDevice, deadline: &Deadline) -> Result<Connection, String> {
    let mut params = Params::new(&MASAKARI_DEVICE);
    for (name, value) in &device.params {
        if MASAKARI_DEVICE.param(name).is_some() {
            params.set(name, resolve_cibsecret(&device.id, name, value)?);
        }
    }
    if !params.is_set("password") {
        if let Some(script) = params.string("password_script") {
            let password = ocf_lib::password_script::run(&script, deadline)?;
            params.set("password", password.expose());
        }
    }
    params.check_all().map_err(|e| e.to_string())?;
    Connection::from_params(&params)
}

fn read_openstack(
    device: &StonithDevice,
    since: Duration,
    deadline: Deadline,
) -> Result<OpenStackView, String> {
    let conn = connection(device, &deadline)?;
    let session = Session::new(conn, deadline)?;
    let mut client = MasakariClient::new(session);
    let text = |e: oxha_masakari_api::Failure| e.to_string();
    let mut segments = Vec::new();
    for seg in client.segments().map_err(text)? {
        let hosts = client.hosts(&seg).map_err(text)?;
        segments.push((seg, hosts));
    }
    let from = SystemTime::now()
        .checked_sub(since)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let notifications = client
        .notifications("COMPUTE_HOST", &ocf_lib::clock::utc_rfc3339(from))
        .map_err(text)?;
    let services = nova::compute_services(client.session()).map_err(text)?;
    let hypervisors = nova::hypervisors(client.session()).map_err(text)?;
    Ok(OpenStackView {
        services,
        hypervisors,
        segments,
        notifications,
    })
}

/// Is a masakari-hostmonitor running here? (`/proc/*/cmdline`: the console script's path.)
fn hostmonitor_process() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmd| {
            cmd.split(|b| *b == 0)
                .take(2)
                .any(|arg| arg.ends_with(b"masakari-hostmonitor"))
        })
}

pub fn view(cib: Cib, since: Duration, deadline: Deadline) -> View {
    let mut view = View {
        cib,
        hostmonitor_process: hostmonitor_process(),
        ..View::default()
    };
    read_maas(&mut view, deadline);
    if let Some(device) = view
        .cib
        .stonith
        .iter()
        .find(|d| d.agent == MASAKARI_AGENT)
        .cloned()
    {
        match read_openstack(&device, since, deadline) {
            Ok(os) => view.openstack = Some(os),
            Err(why) => view.openstack_failure = Some((device.id.clone(), why)),
        }
    }
    view
}
