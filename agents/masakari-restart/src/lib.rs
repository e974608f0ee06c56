//! `ocf:oxha:masakari-restart`: reports libvirt guests that died (and optionally guests paused
//! on an I/O error) to Masakari, whose engine then restarts the HA_Enabled ones through nova.
//!
//! It is a monitor-style agent run as a clone on compute nodes: `start` takes a baseline of
//! the domains' states, every `monitor` polls libvirt, turns new crashes into incidents kept in
//! `state_dir`, and sends the incidents not yet delivered. A failing Masakari never fails the
//! monitor; a libvirt that cannot be read `libvirt_failures` polls in a row does.

pub mod libvirt;
pub mod state;

use libvirt::{DomainState, Virsh, Wait};
use ocf_lib::ra::{Context, ResourceAgent};
use ocf_lib::{
    ActionMeta, AgentKind, AgentMeta, ManSection, OcfError, OcfResult, OcfStatus, Param,
};
use oxha_masakari_api::nova::{self, StopOutcome};
use oxha_masakari_api::{
    Auth, Connection, Failure, MasakariClient, Notification, Password, PostOutcome, Session,
    CONNECTION_PARAMS,
};
use state::{Followed, Incident, Seen, State, StateFile, RESEND_MAX};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

fn check_report(value: &str) -> Result<(), String> {
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !matches!(item, "crashed" | "ioerror") {
            return Err(format!(
                "unknown report kind '{item}' (expected crashed, ioerror)"
            ));
        }
    }
    Ok(())
}

fn check_hostname(value: &str) -> Result<(), String> {
    if value.is_empty()
        || value.len() > 255
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return Err(
            "must be 1-255 characters of a-z, A-Z, 0-9, '-', '.', '_' (Masakari's rule)".into(),
        );
    }
    Ok(())
}

static PARAMS: &[Param] = &[
    ocf_lib::password_script::PARAM
        .longdesc("A command (run as root through /bin/sh -c, with a cleaned environment) whose standard output, trimmed, is the keystone password: e.g. cat /etc/oxha/ks, a file readable by root only on every compute node. Use it instead of password on pacemaker-remote nodes: a plain password is kept in clear in the CIB, and cibsecret does not reach a remote node by itself (its executor reads the secret from its own /var/lib/pacemaker/lrm/secrets, which cibsecret set and sync fill over ssh, only on the nodes they can reach then; a node without the file gets the resource unconfigured, which stops it on every node). It runs when a session needs a token (a notification to send), and once in start and validate-all to check it; a monitor with nothing to send runs nothing. Give password or password_script, not both."),
    Param::string("hostname", "This compute host's name in Masakari")
        .longdesc("Must equal the Masakari host name, the nova-compute service host and normally the Pacemaker node name. Default: this node's FQDN (the host name, completed from /etc/hosts when it has no domain).")
        .check(check_hostname),
    Param::string("libvirt_uri", "libvirt connection URI (read-only access is enough)").default("qemu:///system"),
    Param::string("virsh", "virsh binary").default("virsh"),
    Param::string("report", "What to report")
        .longdesc("Comma-separated: crashed (a guest now 'shut off (crashed)' → LIFECYCLE/STOPPED_FAILED), ioerror (a guest now 'paused (ioerror)' → IO_ERROR/IO_ERROR_REPORT). These are the events Masakari's engine acts on.")
        .default("crashed")
        .check(check_report),
    Param::boolean("report_existing", "Report guests already crashed when the agent starts").default("false"),
    Param::string("state_dir", "Directory for the agent's state")
        .longdesc("Holds the last seen domain states, the incidents not yet delivered and the keystone token between monitors (keystone-token, mode 0600). Default: $HA_RSCTMP/masakari-restart-<instance>.")
        .unique_group("state_dir"),
    Param::integer("retry_max", "Attempts per incident within one monitor").default("3"),
    Param::duration("retry_interval", "Pause between attempts within one monitor").default("5s"),
    Param::integer("libvirt_failures", "Consecutive failed libvirt polls before the monitor fails").default("3"),
    Param::duration("event_wait", "Listen for libvirt events this long after each poll")
        .longdesc("Every monitor, after its poll, waits up to this long for libvirt lifecycle events (virsh event) and polls again at once when one arrives, so a crash inside that window is reported within a fraction of a second. The monitor then runs that long; the listening is cut short to leave request_timeout + 2 s of the monitor's timeout for the report, so the default (25 s) fits the default monitor (interval 2 s, timeout 40 s), which listens about 92 % of the time. A crash between two monitors is seen by the next one's poll. 0 is pure polling: a crash is reported at the next monitor.")
        .default("25s"),
    Param::boolean("nova_stop", "Stop a crashed guest's server in nova before notifying Masakari")
        .longdesc("Before the notification of a crash (not of an I/O error), ask nova to stop the server (os-stop) and wait, up to request_timeout, until nova records it stopped. nova does the same by itself for a guest that stopped on its own (its power-state sync calls its stop API), but only when libvirt's delayed lifecycle event reaches it, about 15 s later. Masakari's recovery begins by stopping the server and checking it is stopped once per verify_interval (1 s); a server already stopped skips that wait, so the guest runs again about a second sooner. Nothing is started and no other host is touched; a stop nova refuses (409: already stopped, or another task on the server) or that fails is logged and left to Masakari, and the notification is sent all the same. Needs auth_mode=keystone (the compute endpoint comes from the catalog) and a user nova lets stop the server (the admin role, as Masakari's own user has); with auth_mode=noauth it is off.")
        .default("true"),
];

static ACTIONS: &[ActionMeta] = &[
    ActionMeta::new("start", 30),
    ActionMeta::new("stop", 20),
    ActionMeta::new("monitor", 40).interval(2).depth(0),
    ActionMeta::new("validate-all", 20),
    ActionMeta::new("meta-data", 5),
];

static MAN: &[ManSection] = &[
    ManSection {
        title: "EXAMPLES",
        body: "A clone on the compute nodes only (the pacemaker-remote nodes), with the keystone password read from a root-only file on each of them (crm):

  primitive masakari-restart ocf:oxha:masakari-restart \\
      params auth_url=http://keystone:5000/v3 username=masakari \\
      project_name=services password_script='cat /etc/oxha/ks' \\
      op monitor interval=2s timeout=40s
  clone cl-masakari-restart masakari-restart meta interleave=true
  location masakari-restart-on-computes cl-masakari-restart \\
      rule -inf: #kind ne remote

The same with pcs, created disabled so that no instance starts on a full node before the rule
exists:

  pcs resource create masakari-restart ocf:oxha:masakari-restart \\
      auth_url=http://keystone:5000/v3 username=masakari \\
      project_name=services password_script='cat /etc/oxha/ks' \\
      op monitor interval=2s timeout=40s clone interleave=true --disabled
  pcs constraint location masakari-restart-clone rule \\
      score=-INFINITY '#kind' ne remote
  pcs resource enable masakari-restart-clone

Each monitor listens for libvirt events for 25 s (event_wait) after its poll, and the next one
starts 2 s after it ends. Polling only, a monitor of a few seconds every 10 s (a crash is then
reported up to 10 s late; created disabled the same way, same location rule, then enabled):

  pcs resource create masakari-restart ocf:oxha:masakari-restart \\
      auth_url=http://keystone:5000/v3 username=masakari \\
      project_name=services password_script='cat /etc/oxha/ks' event_wait=0 \\
      op monitor interval=10s timeout=40s clone interleave=true --disabled

Against a Masakari running auth_strategy=noauth2 (likewise; nova_stop needs keystone and is off):

  pcs resource create masakari-restart ocf:oxha:masakari-restart \\
      auth_mode=noauth masakari_url=http://127.0.0.1:15868/v1 clone --disabled",
    },
    ManSection {
        title: "HOW IT WORKS",
        body: "start records every domain's state (virsh domstats --state), as read-only libvirt client. A host that boots starts pacemaker_remoted and libvirtd side by side: while libvirt does not answer, start asks again every second for as long as its timeout allows, rather than failing (a failed start bans the agent from the host until a cleanup). Each monitor lists the domains again, then listens for libvirt lifecycle events for event_wait and lists them again at each event; a domain whose state became 'shut off (crashed)' (libvirt's Stopped Failed) is an incident, as is, with report=ioerror, one that became 'paused (ioerror)'. Incidents are written to state_dir before they are sent, with the time they were seen as generated_time. With nova_stop (the default), a crash is first stopped in nova: nova's power-state sync would call its stop API for the dead guest about 15 s later; called now, Masakari's recovery finds the server stopped and starts it at once instead of stopping it and checking once a second.

An incident is done when Masakari answers 202, or 409 duplicate to a re-send (an earlier attempt was stored and its answer lost). Masakari takes for a duplicate any notification whose payload (guest uuid and event) equals one of the last duplicate_notification_detection_interval (180 s by default): a guest that crashes again within that window of its previous crash (right after Masakari restarted it) is answered 409 at its first sending. That report is held, not dropped: at each poll, while the guest is still crashed, it is sent again with a new generated_time, until the window has passed and Masakari accepts it; set the interval to 10 s in masakari.conf so that takes seconds, not minutes (this agent re-sends an incident with its original generated_time, so Masakari recognises re-sends whatever the interval). 409 'under maintenance' and 400 'host not found' are logged as warnings and dropped: nothing would change on a retry. A network error or a 5xx keeps the incident for the next monitor, which re-sends it unchanged, so Masakari still recognises it. None of this fails the monitor; only libvirt_failures failed libvirt polls in a row do.

A crash Masakari accepted is followed until Masakari has ended its recovery, whatever states the guest passes through meanwhile. If the guest is still, or again, 'shut off (crashed)' once Masakari has ended the recovery (its notification finished, error or failed), it crashed again before a poll saw it run (a restart killed at once), or the recovery failed because of that second crash (its confirmation timed out): it is reported again, up to 3 times in a row, each after the previous recovery ended. A report again inside Masakari's duplicate window is held like any other. Without this a guest that crashes right after its restart stays shut off: Masakari retries an errored notification once, after process_unfinished_notifications_interval, and never a finished one.

An operator stop (virsh destroy, shutdown) is not a crash and is never reported. stop removes the running marker and keeps undelivered incidents for the next start.

state_dir/state.json is written durably (a temporary file, fsync, rename, fsync of the directory), under an exclusive lock (state_dir/lock): a monitor left listening by an executor that died (pacemaker_remoted killed or restarted) and the agent started under the new one take turns at it, and the orphan stops listening at its next event. A state file that cannot be read or parsed fails monitor and start with a reason naming it, rather than starting from an empty state and dropping the incidents it may hold: look at it, move it away, then clean up the resource.

With auth_mode=keystone the token is kept in state_dir/keystone-token (mode 0600, readable by root only; a file with any other owner or mode is not believed) and used by later monitors for up to 15 minutes after keystone issued it, for the same auth_url, user and project: a crash report then asks keystone nothing, and nova and Masakari validate a token they already know. A token refused with 401 (expired, revoked, a changed password) is dropped and a new one asked for at once. The password is never written there.

virsh runs with a cleaned environment (PATH, LANG, LC_ALL=C; none of the agent's OCF_RESKEY_ variables). Keystone and Masakari are reached directly: a redirect is never followed (the incident is kept for the next monitor), no proxy is used unless the proxy parameter names one, URLs with a user name or password are refused, and certificates are checked against the system store plus ca_file.",
    },
    ManSection {
        title: "DIFFERENCES FROM MASAKARI-INSTANCEMONITOR",
        body: "It sends only the events Masakari's engine acts on (LIFECYCLE/STOPPED_FAILED and IO_ERROR/IO_ERROR_REPORT) instead of every lifecycle event, which the engine stores as 'ignored'.

It runs no daemon: each monitor (every 2 s, for up to event_wait, 25 s) polls the domains and then listens for libvirt lifecycle events through one virsh event process, which it polls again at each event. A crash is reported within a fraction of a second while a monitor listens, and by the next monitor's poll otherwise; a crash that happens while libvirtd restarts is still seen (the state is still 'shut off (crashed)' at the next poll), where instancemonitor loses events while it reconnects.

It stops the crashed guest's server in nova before it notifies (nova_stop), so Masakari's recovery starts it without its own stop and one-second checks; instancemonitor leaves that to Masakari.

Undelivered notifications survive in state_dir and are retried at every monitor with their original generated_time; instancemonitor retries 12 times 10 s in memory and then drops the event.

It talks to libvirt by running 'virsh -r' (LC_ALL=C, one process per poll), not through the libvirt library: the binary is static and Debian ships no static libvirt; virsh is on every nova-compute host.

There is no configuration file: parameters come from the cluster configuration, and the password is never on a command line or in a log.",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "masakari-restart",
    kind: AgentKind::Resource,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Reports crashed libvirt guests to Masakari for restart",
    longdesc: "Watches the libvirt guests on this compute node and tells Masakari (POST /v1/notifications, type VM) when one crashed or, optionally, was paused by an I/O error, so the Masakari engine restarts it through nova. Run it as a clone on the compute nodes; it replaces masakari-instancemonitor.",
    params: PARAMS,
    param_groups: &[CONNECTION_PARAMS],
    actions: ACTIONS,
    man_sections: MAN,
};

/// This node's FQDN: the kernel host name, completed from /etc/hosts when it has no dot
/// (the usual Debian `127.0.1.1 host.example.com host` line). No DNS lookup: an agent must
/// not hang on a resolver.
pub fn node_fqdn() -> Result<String, String> {
    let short = nix::unistd::gethostname()
        .map_err(|e| format!("gethostname: {e}"))?
        .to_string_lossy()
        .into_owned();
    if short.contains('.') {
        return Ok(short);
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    Ok(fqdn_from_hosts(&short, &hosts).unwrap_or(short))
}

fn fqdn_from_hosts(short: &str, hosts: &str) -> Option<String> {
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter(|l| l.split_whitespace().skip(1).any(|n| n == short))
        .flat_map(|l| l.split_whitespace().skip(1))
        .find(|n| n.starts_with(&format!("{short}.")))
        .map(str::to_string)
}

/// What Masakari should hear about a change from `before` to `now`, if anything.
pub fn incident_for(
    before: Option<&Seen>,
    now: &DomainState,
    crashed: bool,
    ioerror: bool,
) -> Option<(&'static str, &'static str)> {
    let was = |s: u32, r: u32| before.is_some_and(|b| b.state == s && b.reason == r);
    if crashed && now.is_crashed() && !was(libvirt::SHUTOFF, libvirt::SHUTOFF_CRASHED) {
        return Some(("LIFECYCLE", "STOPPED_FAILED"));
    }
    if ioerror && now.is_paused_ioerror() && !was(libvirt::PAUSED, libvirt::PAUSED_IOERROR) {
        return Some(("IO_ERROR", "IO_ERROR_REPORT"));
    }
    None
}

pub struct MasakariRestart {
    state_dir: PathBuf,
    hostname: Option<String>,
    virsh: Virsh,
    report_crashed: bool,
    report_ioerror: bool,
    report_existing: bool,
    retry_max: u32,
    retry_interval: Duration,
    libvirt_failures: u32,
    event_wait: Duration,
    nova_stop: bool,
    connection: Connection,
}

/// How often nova is asked whether a server it was told to stop is stopped.
const NOVA_STOP_POLL: Duration = Duration::from_millis(50);

impl MasakariRestart {
    fn marker(&self) -> PathBuf {
        self.state_dir.join("running")
    }
    fn state_file(&self) -> StateFile {
        StateFile::in_dir(&self.state_dir)
    }

    /// The state's lock, held for one read-change-write of it (never while listening).
    fn lock_state(&self, ctx: &Context) -> Result<ocf_lib::files::Lock, OcfError> {
        let path = self.state_dir.join("lock");
        ocf_lib::files::lock(&path, &ctx.deadline)
            .map_err(|e| OcfError::generic(format!("cannot lock {}: {e}", path.display())))
    }

    /// The saved state; a state file that cannot be read is the operation's error.
    fn load(&self) -> Result<State, OcfError> {
        self.state_file().load().map_err(OcfError::generic)
    }

    fn save(&self, state: &State) -> Result<(), OcfError> {
        self.state_file().save(state).map_err(OcfError::generic)
    }

    /// A session with the token kept in state_dir between monitors: a crash report then asks
    /// keystone nothing, and the services validate a token they have seen.
    fn session(&self, ctx: &Context) -> Result<Session, String> {
        Session::new(self.connection.clone(), ctx.deadline)
            .map(|s| s.with_token_cache(self.state_dir.join("keystone-token")))
    }

    fn hostname(&self) -> Result<String, OcfError> {
        match &self.hostname {
            Some(h) => Ok(h.clone()),
            None => {
                let h = node_fqdn().map_err(OcfError::generic)?;
                check_hostname(&h).map_err(|why| {
                    OcfError::configured(format!("node name '{h}' {why}; set hostname"))
                })?;
                Ok(h)
            }
        }
    }

    fn new_incident(
        &self,
        hostname: &str,
        uuid: &str,
        seen: &DomainState,
        event: &str,
        detail: &str,
    ) -> Incident {
        let mut payload = serde_json::Map::new();
        payload.insert("event".into(), event.into());
        payload.insert("instance_uuid".into(), uuid.into());
        payload.insert("vir_domain_event".into(), detail.into());
        ocf_lib::warn!(
            "guest {} ({uuid}) is {}: reporting {event}/{detail} to Masakari",
            seen.name,
            seen.describe()
        );
        Incident {
            domain: seen.name.clone(),
            notification: Notification {
                kind: "VM".into(),
                hostname: hostname.to_string(),
                generated_time: ocf_lib::clock::utc_rfc3339(SystemTime::now()),
                payload,
            },
            attempts: 0,
            report: 1,
            follows: None,
            held: false,
        }
    }

    /// Follows the delivered crashes whose guests are still crashed: once Masakari has ended
    /// the recovery (finished, error, failed) and the guest is crashed all the same, it crashed
    /// again before a poll saw it run (a restart killed at once), or the recovery failed (its
    /// confirmation timed out because of that second crash): the guest is reported again, so
    /// Masakari runs the recovery again instead of leaving it shut off until an operator
    /// looks. Masakari's own retry of an errored notification waits
    /// process_unfinished_notifications_interval (120 s by default) and gives up after one.
    fn follow(
        &self,
        ctx: &Context,
        state: &mut State,
        hostname: &str,
        domains: &BTreeMap<String, DomainState>,
    ) {
        // Every followed guest until its recovery has ended, whatever states it passes through
        // meanwhile: Masakari's own stop and start come first, and a crash right after them is
        // a duplicate of the one it is recovering.
        let crashed: Vec<String> = state
            .followed
            .keys()
            .filter(|uuid| domains.contains_key(*uuid))
            .filter(|uuid| {
                !state.pending.iter().any(|i| {
                    i.notification
                        .payload
                        .get("instance_uuid")
                        .and_then(|v| v.as_str())
                        == Some(uuid.as_str())
                })
            })
            .cloned()
            .collect();
        if crashed.is_empty() {
            return;
        }
        let mut client = match self.session(ctx).map(MasakariClient::new) {
            Ok(c) => c,
            Err(e) => {
                ocf_lib::warn!(
                    "cannot build the Masakari client to follow {} recovery(ies): {e}",
                    crashed.len()
                );
                return;
            }
        };
        for uuid in crashed {
            let Some(followed) = state.followed.get(&uuid).cloned() else {
                continue;
            };
            if ctx
                .deadline
                .remaining()
                .is_some_and(|r| r <= self.connection.request_timeout)
            {
                break;
            }
            let status = match client.notification_status(&followed.notification_uuid) {
                Ok(s) => s,
                Err(e) => {
                    ocf_lib::warn!("cannot read notification {} of {uuid}: {e}; asking again at the next monitor", followed.notification_uuid);
                    continue;
                }
            };
            let Some(now) = domains.get(&uuid) else {
                continue;
            };
            match status.as_str() {
                "new" | "running" => {}
                "finished" | "error" | "failed" if !now.is_crashed() => {
                    // Recovered, or stopped by someone: a later crash is a new one.
                    state.followed.remove(&uuid);
                }
                "finished" | "error" | "failed" if followed.reports < RESEND_MAX => {
                    ocf_lib::warn!(
                        "guest {} ({uuid}) is still crashed and Masakari's recovery {} ended {status}: reporting it again ({} of {RESEND_MAX})",
                        now.name,
                        followed.notification_uuid,
                        followed.reports + 1
                    );
                    let mut incident =
                        self.new_incident(hostname, &uuid, now, "LIFECYCLE", "STOPPED_FAILED");
                    incident.report = followed.reports + 1;
                    incident.follows = Some(followed.notification_uuid.clone());
                    state.pending.push(incident);
                    state.followed.remove(&uuid);
                }
                "finished" | "error" | "failed" => {
                    ocf_lib::error!(
                        "guest {} ({uuid}) is still crashed after {} reports (the last one {status}): left to the operator",
                        now.name,
                        followed.reports
                    );
                    state.followed.remove(&uuid);
                }
                other => {
                    // ignored (the guest is not HA_Enabled, the host on maintenance...): Masakari
                    // decided; nothing to follow.
                    ocf_lib::info!(
                        "Masakari's notification {} for {} is {other}: not followed",
                        followed.notification_uuid,
                        now.name
                    );
                    state.followed.remove(&uuid);
                }
            }
        }
    }

    /// Held incidents (refused as duplicates of an earlier crash of their guest) whose guest is
    /// still in the reported state become new reports, generated now; the others are dropped:
    /// the guest runs again (Masakari's recovery of the earlier crash), or someone stopped it.
    fn renew_held(&self, state: &mut State, domains: &BTreeMap<String, DomainState>) {
        state.pending.retain_mut(|incident| {
            if !incident.held {
                return true;
            }
            let n = &mut incident.notification;
            let uuid = n.payload.get("instance_uuid").and_then(|v| v.as_str());
            let event = n.payload.get("vir_domain_event").and_then(|v| v.as_str());
            let still = uuid.and_then(|u| domains.get(u)).is_some_and(|d| match event {
                Some("STOPPED_FAILED") => d.is_crashed(),
                Some("IO_ERROR_REPORT") => d.is_paused_ioerror(),
                _ => false,
            });
            if !still {
                ocf_lib::info!(
                    "guest {} is no longer in the state Masakari refused to hear about again: report dropped",
                    incident.domain
                );
                return false;
            }
            n.generated_time = ocf_lib::clock::utc_rfc3339(SystemTime::now());
            incident.attempts = 0;
            true
        });
    }

    /// Sends the pending incidents; keeps the ones that may succeed later.
    fn deliver(&self, ctx: &Context, state: &mut State) {
        if state.pending.is_empty() {
            return;
        }
        let session = self.session(ctx);
        let mut client = match session.map(MasakariClient::new) {
            Ok(c) => c,
            Err(e) => {
                ocf_lib::error!(
                    "cannot build the Masakari client: {e}; {} incident(s) kept",
                    state.pending.len()
                );
                return;
            }
        };
        let mut kept = Vec::new();
        for mut incident in std::mem::take(&mut state.pending) {
            if incident.attempts == 0 && !incident.held {
                self.stop_in_nova(ctx, client.session(), &incident);
            }
            let mut done = false;
            for attempt in 1..=self.retry_max.max(1) {
                // A request that could outlive the operation timeout would turn into a failed
                // monitor; keep the incident for the next monitor instead.
                if ctx
                    .deadline
                    .remaining()
                    .is_some_and(|r| r <= self.connection.request_timeout)
                {
                    break;
                }
                incident.attempts += 1;
                let n = &incident.notification;
                match client.post_notification(n) {
                    PostOutcome::Accepted(uuid) => {
                        ocf_lib::info!(
                            "Masakari accepted the notification for {} ({}): {uuid}",
                            incident.domain,
                            n.generated_time
                        );
                        if let Some(domain) =
                            n.payload.get("instance_uuid").and_then(|v| v.as_str())
                        {
                            if n.payload.get("vir_domain_event").and_then(|v| v.as_str())
                                == Some("STOPPED_FAILED")
                            {
                                state.followed.insert(
                                    domain.to_string(),
                                    Followed {
                                        notification_uuid: uuid.clone(),
                                        reports: incident.report,
                                    },
                                );
                            }
                        }
                        done = true;
                    }
                    PostOutcome::Duplicate(m) if incident.attempts > 1 => {
                        // Sent before: Masakari stored an earlier attempt whose answer was lost.
                        ocf_lib::info!(
                            "Masakari already has this incident of {}: {m}",
                            incident.domain
                        );
                        done = true;
                    }
                    PostOutcome::Duplicate(m) => {
                        // Never sent before: the duplicate is another notification, an earlier
                        // crash of this guest within Masakari's duplicate window (a crash
                        // right after Masakari restarted it). Dropping it would leave the guest
                        // down: held, and reported again once the window has passed.
                        if !incident.held {
                            ocf_lib::warn!(
                                "Masakari refused the report of {} as a duplicate of an earlier crash within its duplicate_notification_detection_interval ({m}): reported again at each poll while it stays so, until Masakari accepts it",
                                incident.domain
                            );
                        }
                        incident.held = true;
                        break;
                    }
                    PostOutcome::Maintenance(m) => {
                        ocf_lib::warn!(
                            "Masakari ignores {} because host {} is on maintenance: {m}",
                            incident.domain,
                            n.hostname
                        );
                        done = true;
                    }
                    PostOutcome::UnknownHost(m) => {
                        ocf_lib::warn!("Masakari does not know host {} (add it to a segment): {m}; incident of {} dropped", n.hostname, incident.domain);
                        done = true;
                    }
                    PostOutcome::Failed(Failure::Refused(code, m))
                        if matches!(code, 0 | 300..=399 | 401 | 403 | 404) =>
                    {
                        // Credentials, role, catalog, a URL that redirects: a configuration fix
                        // makes it deliverable.
                        ocf_lib::error!(
                            "notification for {} not delivered (HTTP {code}): {m}; kept",
                            incident.domain
                        );
                        break;
                    }
                    PostOutcome::Failed(Failure::Refused(code, m)) => {
                        ocf_lib::error!("Masakari refused the notification for {} (HTTP {code}): {m}; incident dropped", incident.domain);
                        done = true;
                    }
                    PostOutcome::Failed(Failure::Transient(m)) => {
                        ocf_lib::warn!(
                            "notification for {} not delivered (attempt {attempt}): {m}",
                            incident.domain
                        );
                    }
                }
                if done {
                    break;
                }
                let pause = self.retry_interval;
                // Leave room for the next request; otherwise keep it for the next monitor.
                let room = ctx
                    .deadline
                    .remaining()
                    .is_none_or(|r| r > pause + self.connection.request_timeout);
                if attempt == self.retry_max.max(1) || !room {
                    break;
                }
                ctx.deadline.sleep(pause);
            }
            if !done {
                kept.push(incident);
            }
        }
        if !kept.is_empty() {
            ocf_lib::warn!("{} notification(s) kept for the next monitor", kept.len());
        }
        state.pending = kept;
    }

    /// With `nova_stop`, before a crash is first sent: nova told to stop the server, and asked
    /// until it records it stopped, so that Masakari's recovery finds it stopped and skips its
    /// own stop and its one-second checks. nova's power-state sync would make the same call
    /// about 15 s later; the guest is dead, so nothing is lost by making it now. Bounded by
    /// request_timeout (leaving room for the notification); anything but a stop seen done is
    /// logged and left to Masakari.
    fn stop_in_nova(&self, ctx: &Context, session: &mut Session, incident: &Incident) {
        let n = &incident.notification;
        let is_crash =
            n.payload.get("vir_domain_event").and_then(|v| v.as_str()) == Some("STOPPED_FAILED");
        let uuid = n.payload.get("instance_uuid").and_then(|v| v.as_str());
        let (true, Some(uuid), true, Auth::Keystone(_)) =
            (self.nova_stop, uuid, is_crash, &self.connection.auth)
        else {
            return;
        };
        // What is left once the notification's request_timeout (and a second) is set aside.
        // A listening monitor keeps request_timeout + 2 s for the report an event triggers, so
        // there is always a second or more here, enough for a stop nova does in a fraction.
        let room = |d: Duration| {
            d.saturating_sub(self.connection.request_timeout + Duration::from_secs(1))
        };
        let budget = match ctx.deadline.remaining() {
            Some(left) => room(left).min(self.connection.request_timeout),
            None => self.connection.request_timeout,
        };
        if budget < Duration::from_millis(500) {
            ocf_lib::info!(
                "no time left in this monitor to stop {} ({uuid}) in nova first: Masakari is told at once",
                incident.domain
            );
            return;
        }
        let wait = ocf_lib::Deadline::after(budget);
        let asked = Instant::now();
        match nova::stop_server(session, uuid) {
            Ok(StopOutcome::Requested) => {}
            Ok(StopOutcome::Conflict(m)) => {
                ocf_lib::info!("nova did not stop {} ({uuid}) now: {m}", incident.domain);
                return;
            }
            Ok(StopOutcome::NotFound) => {
                ocf_lib::info!(
                    "nova has no server {uuid} ({}): Masakari is told all the same",
                    incident.domain
                );
                return;
            }
            Err(e) => {
                ocf_lib::warn!(
                    "cannot ask nova to stop {} ({uuid}): {e}; Masakari's recovery will stop it",
                    incident.domain
                );
                return;
            }
        }
        let stopped = wait.poll(NOVA_STOP_POLL, || {
            nova::server_state(session, uuid)
                .ok()
                .filter(|s| s.vm_state == "stopped")
        });
        match stopped {
            Some(_) => ocf_lib::info!(
                "nova stopped {} ({uuid}) in {:.2}s",
                incident.domain,
                asked.elapsed().as_secs_f64()
            ),
            None => ocf_lib::warn!(
                "nova did not record {} ({uuid}) stopped within {:.1}s: Masakari is told all the same",
                incident.domain,
                budget.as_secs_f64()
            ),
        }
    }

    /// One poll, then (with `event_wait`) more polls as libvirt lifecycle events arrive.
    fn poll(&self, ctx: &Context) -> OcfResult {
        self.poll_once(ctx)?;
        if self.event_wait.is_zero() {
            return Ok(OcfStatus::Success);
        }
        let listen_until = ocf_lib::Deadline::after(self.event_wait);
        // Keep room before the operation timeout for the poll and report an event triggers.
        let reserve = self.connection.request_timeout + Duration::from_secs(2);
        let executor = std::os::unix::process::parent_id();
        loop {
            // An executor that died (pacemaker_remoted killed or restarted) leaves this monitor
            // running; the cluster starts the agent again under the new one. Listening on would
            // only double the work.
            if std::os::unix::process::parent_id() != executor {
                ocf_lib::info!("the executor that ran this monitor is gone: it stops listening");
                break;
            }
            let listen = listen_until.remaining().unwrap_or(self.event_wait);
            let budget = match ctx.deadline.remaining() {
                Some(left) => listen.min(left.saturating_sub(reserve)),
                None => listen,
            };
            if budget < Duration::from_secs(1) {
                break;
            }
            match self.virsh.wait_lifecycle(budget) {
                Ok(Wait::Event(line)) => {
                    ocf_lib::debug!("libvirt: {line}");
                    self.poll_once(ctx)?;
                }
                Ok(Wait::TimedOut) => break,
                Err(e) => {
                    ocf_lib::warn!(
                        "waiting for libvirt events: {e}; polling only until the next monitor"
                    );
                    break;
                }
            }
        }
        Ok(OcfStatus::Success)
    }

    fn poll_once(&self, ctx: &Context) -> OcfResult {
        let _turn = self.lock_state(ctx)?;
        let mut state = self.load()?;
        let hostname = self.hostname()?;
        match self.virsh.domains(&ctx.deadline) {
            Ok(domains) => {
                state.libvirt_failures = 0;
                let mut next = BTreeMap::new();
                for (uuid, now) in &domains {
                    let before = state.domains.get(uuid);
                    if let Some((event, detail)) =
                        incident_for(before, now, self.report_crashed, self.report_ioerror)
                    {
                        let incident = self.new_incident(&hostname, uuid, now, event, detail);
                        state.pending.push(incident);
                    }
                    next.insert(
                        uuid.clone(),
                        Seen {
                            name: now.name.clone(),
                            state: now.state,
                            reason: now.reason,
                        },
                    );
                }
                state.domains = next;
                state.followed.retain(|uuid, _| domains.contains_key(uuid));
                self.renew_held(&mut state, &domains);
                self.follow(ctx, &mut state, &hostname, &domains);
            }
            Err(e) => {
                state.libvirt_failures += 1;
                let n = state.libvirt_failures;
                self.save(&state)?;
                if n >= self.libvirt_failures.max(1) {
                    return Err(OcfError::generic(format!(
                        "libvirt unreachable for {n} polls: {e}"
                    )));
                }
                ocf_lib::warn!(
                    "libvirt poll failed ({n} of {}): {e}",
                    self.libvirt_failures
                );
            }
        }
        // Saved before sending: an incident must survive this process being killed mid-request.
        self.save(&state)?;
        self.deliver(ctx, &mut state);
        self.save(&state)?;
        Ok(OcfStatus::Success)
    }
}

/// How often start asks libvirt again while libvirtd is not answering yet.
const LIBVIRT_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl ResourceAgent for MasakariRestart {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_params(ctx: &Context) -> Result<Self, OcfError> {
        let p = &ctx.params;
        let cfg = |e: ocf_lib::ParamError| OcfError::configured(e.to_string());
        let report = p.string("report").unwrap_or_default();
        let kinds: Vec<&str> = report.split(',').map(str::trim).collect();
        Ok(MasakariRestart {
            state_dir: p
                .string("state_dir")
                .map(PathBuf::from)
                .unwrap_or_else(|| ctx.state_file("")),
            hostname: p.string("hostname"),
            virsh: Virsh {
                binary: p.string("virsh").unwrap_or_else(|| "virsh".into()),
                uri: p
                    .string("libvirt_uri")
                    .unwrap_or_else(|| "qemu:///system".into()),
            },
            report_crashed: kinds.contains(&"crashed"),
            report_ioerror: kinds.contains(&"ioerror"),
            report_existing: p.bool("report_existing").map_err(cfg)?,
            retry_max: p.integer("retry_max").map_err(cfg)?.unwrap_or(3),
            retry_interval: p
                .duration("retry_interval")
                .map_err(cfg)?
                .unwrap_or(Duration::from_secs(5)),
            libvirt_failures: p.integer("libvirt_failures").map_err(cfg)?.unwrap_or(3),
            event_wait: p
                .duration("event_wait")
                .map_err(cfg)?
                .unwrap_or(Duration::from_secs(25)),
            nova_stop: p.bool("nova_stop").map_err(cfg)?,
            connection: Connection::from_params(p).map_err(OcfError::configured)?,
        })
    }

    fn validate(&self, ctx: &Context) -> OcfResult {
        if ctx.find_binary(&self.virsh.binary).is_none() {
            return Err(OcfError::installed(format!(
                "{} not found (package libvirt-clients)",
                self.virsh.binary
            )));
        }
        if let Some(ca) = &self.connection.ca_file {
            if !std::path::Path::new(ca).is_file() {
                return Err(OcfError::configured(format!("ca_file {ca} does not exist")));
            }
        }
        // A password_script that does not work on this node should fail the start here, not
        // the first notification after a guest crashed.
        if let Auth::Keystone(creds) = &self.connection.auth {
            if let Password::Script(_) = creds.password {
                creds
                    .password
                    .resolve(&ctx.deadline)
                    .map_err(OcfError::generic)?;
            }
        }
        self.hostname()?;
        Ok(OcfStatus::Success)
    }

    fn start(&self, ctx: &Context) -> OcfResult {
        self.validate(ctx)?;
        std::fs::create_dir_all(&self.state_dir).map_err(|e| {
            OcfError::generic(format!("cannot create {}: {e}", self.state_dir.display()))
        })?;
        // A compute host that boots starts pacemaker_remoted and libvirtd side by side, and the
        // cluster may start this agent before libvirtd answers. A failed start bans the agent
        // from the host (start failures are fatal) until an operator's cleanup, leaving its
        // guests' crashes unreported (the chaos soak met it): start waits for libvirt, asking
        // every second, for as long as its timeout allows.
        let domains = loop {
            match self.virsh.domains(&ctx.deadline) {
                Ok(domains) => break domains,
                // Asked again while another try still fits in the time left.
                Err(_)
                    if ctx
                        .deadline
                        .remaining()
                        .is_none_or(|left| left > LIBVIRT_RETRY * 2) =>
                {
                    ctx.deadline.sleep(LIBVIRT_RETRY);
                }
                Err(e) => return Err(OcfError::generic(format!("cannot read libvirt: {e}"))),
            }
        };
        let _turn = self.lock_state(ctx)?;
        let mut state = self.load()?;
        let hostname = self.hostname()?;
        let already = self.marker().exists();
        let mut baseline = BTreeMap::new();
        for (uuid, now) in &domains {
            if self.report_existing && !already {
                if let Some((event, detail)) =
                    incident_for(None, now, self.report_crashed, self.report_ioerror)
                {
                    state
                        .pending
                        .push(self.new_incident(&hostname, uuid, now, event, detail));
                }
            }
            baseline.insert(
                uuid.clone(),
                Seen {
                    name: now.name.clone(),
                    state: now.state,
                    reason: now.reason,
                },
            );
        }
        if !already {
            // A restart of the agent keeps the incidents it could not deliver, but re-baselines.
            state.domains = baseline;
        }
        state.libvirt_failures = 0;
        self.save(&state)?;
        std::fs::write(self.marker(), b"").map_err(|e| {
            OcfError::generic(format!("cannot create {}: {e}", self.marker().display()))
        })?;
        ocf_lib::info!(
            "watching {} domain(s) on {} for host {hostname}",
            domains.len(),
            self.virsh.uri
        );
        if !state.pending.is_empty() {
            self.deliver(ctx, &mut state);
            self.save(&state)?;
        }
        Ok(OcfStatus::Success)
    }

    fn stop(&self, _ctx: &Context) -> OcfResult {
        match std::fs::remove_file(self.marker()) {
            Ok(()) => Ok(OcfStatus::Success),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OcfStatus::Success),
            Err(e) => Err(OcfError::generic(format!(
                "cannot remove {}: {e}",
                self.marker().display()
            ))),
        }
    }

    fn monitor(&self, ctx: &Context) -> OcfResult {
        if !self.marker().exists() {
            return Ok(OcfStatus::NotRunning);
        }
        if ctx.is_probe() {
            return Ok(OcfStatus::Success);
        }
        self.poll(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(state: u32, reason: u32) -> DomainState {
        DomainState {
            name: "g".into(),
            state,
            reason,
        }
    }
    fn seen(state: u32, reason: u32) -> Seen {
        Seen {
            name: "g".into(),
            state,
            reason,
        }
    }

    #[test]
    fn only_new_crashes_and_ioerrors_are_incidents() {
        let running = seen(libvirt::RUNNING, 1);
        let crashed = dom(libvirt::SHUTOFF, libvirt::SHUTOFF_CRASHED);
        let destroyed = dom(libvirt::SHUTOFF, 2);
        let ioerror = dom(libvirt::PAUSED, libvirt::PAUSED_IOERROR);
        assert_eq!(
            incident_for(Some(&running), &crashed, true, false),
            Some(("LIFECYCLE", "STOPPED_FAILED"))
        );
        assert_eq!(
            incident_for(None, &crashed, true, false),
            Some(("LIFECYCLE", "STOPPED_FAILED"))
        );
        assert_eq!(
            incident_for(Some(&seen(5, 3)), &crashed, true, false),
            None,
            "still crashed: already reported"
        );
        assert_eq!(
            incident_for(Some(&running), &destroyed, true, true),
            None,
            "operator stop"
        );
        assert_eq!(
            incident_for(Some(&running), &crashed, false, true),
            None,
            "crashed not asked for"
        );
        assert_eq!(incident_for(Some(&running), &ioerror, true, false), None);
        assert_eq!(
            incident_for(Some(&running), &ioerror, true, true),
            Some(("IO_ERROR", "IO_ERROR_REPORT"))
        );
    }

    #[test]
    fn fqdn_comes_from_etc_hosts() {
        let hosts = "127.0.0.1 localhost\n127.0.1.1 compute-1.example.com compute-1 # me\n";
        assert_eq!(
            fqdn_from_hosts("compute-1", hosts).as_deref(),
            Some("compute-1.example.com")
        );
        assert_eq!(fqdn_from_hosts("compute-2", hosts), None);
    }

    #[test]
    fn report_and_hostname_checks() {
        assert!(check_report("crashed,ioerror").is_ok());
        assert!(check_report("crashed,agent").is_err());
        assert!(check_hostname("compute-1.example.com").is_ok());
        assert!(check_hostname("bad host").is_err());
    }
}

ocf_lib::man_page_test!(META);
