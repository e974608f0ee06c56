//! `fence_masakari`: the second device of a fencing-topology level, after the power fence.
//! Pacemaker runs it only once the power device confirmed the node off, and it then tells
//! Masakari the compute host is down (`COMPUTE_HOST` / `STOPPED` / `host_status NORMAL` /
//! `cluster_status OFFLINE`), so Masakari evacuates only hosts that are really off.
//!
//! It never says a host is off on its own word ([`topology`]): `off` and `reboot` run only
//! under pacemaker-fenced, and `status`, `on`, `off`, `reboot` only for a target whose every
//! fencing level holding a fence_masakari device has a power device before it (read from the
//! live CIB). It declares no `list`, and its `status` fails for any other target, so the
//! fencer's host checks never make it a candidate for a host it may not act for.
//!
//! How that maps onto ocf-lib's off sequence (status → set → confirm by status):
//! * status: Masakari's view of the host: on maintenance (Masakari already handles it as
//!   failed, and would refuse a new notification with 409) is "off", otherwise "on". After
//!   this process delivered the notification, the host is "off" for the rest of the run.
//! * set off: mark nova-compute `forced_down` (`nova_force_down`), or else wait until nova
//!   counts the host down (`nova_down_wait`), then POST the notification; 202,
//!   409 duplicate and 409 maintenance count as delivered. Network errors and 5xx are retried
//!   until `power_timeout` (within `total_timeout`).
//! * set on: nothing to tell Masakari (an operator clears `on_maintenance` once the host is
//!   healthy); reported as done so `reboot` completes.

pub mod topology;

use ocf_lib::fence::{opt, FenceAgent, FenceContext, FenceError, PowerState};
use ocf_lib::{AgentKind, AgentMeta, ManSection, Param};
use oxha_masakari_api::{
    nova, Auth, Connection, Failure, MasakariClient, Notification, PostOutcome, Session,
    CONNECTION_PARAMS,
};
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

static PARAMS: &[Param] = &[
    opt::PASSWORD_SCRIPT,
    Param::boolean(
        "nova_force_down",
        "Mark the host's nova-compute service forced_down before notifying Masakari",
    )
    .default("false")
    .longdesc("Before the notification, mark the nova-compute service of the host forced_down (nova API PUT /os-services/{id}, microversion 2.53; the compute endpoint comes from the keystone catalog, so auth_mode=keystone is required). nova then counts the host down at once instead of after service_down_time, so Masakari's wait_period_after_service_update can be 0 (see NOVA SERVICE DOWN). A failure to mark it fails the fence (nothing is posted to Masakari). fence_masakari never clears it: when the host is back, clear it with openstack compute service set --up HOST nova-compute, together with the walkthrough's --enable and on_maintenance=False."),
    Param::duration(
        "nova_down_wait",
        "Wait up to this long for nova to count the host down before notifying Masakari",
    )
    .default("30")
    .longdesc("Without nova_force_down: before the notification, ask nova every half second, up to this long, whether it counts the host's nova-compute service down (no heartbeat for service_down_time). nova refuses evacuations from a host it counts up, and its API, asked by Masakari to disable the service of a host it counts up, first waits rpc_response_timeout for the dead host's answer. Told once nova counts the host down, Masakari can evacuate at once, with wait_period_after_service_update=0 (see NOVA SERVICE DOWN). When the wait runs out, or nova cannot be asked, Masakari is told all the same and the reason logged. The wait is cut to leave the notification its time within total_timeout. 0 notifies at once. Needs auth_mode=keystone (the compute endpoint comes from the catalog) and a user nova lets list services (the admin role, as Masakari's own user has); with auth_mode=noauth it is off."),
    Param::string(
        "extra_power_agents",
        "Site-specific fence agents that confirm a host powered off",
    )
    .value_name("AGENT[,AGENT...]")
    .longdesc("fence_masakari acts only after a power device of its fencing level, and a power device is one whose agent is known to confirm the host off: fence_maas, fence_ipmilan and its aliases (fence_ilo3/4/5, fence_idrac, fence_imm, fence_ipmilanplus), fence_redfish, the iLO, DRAC, AMT and blade agents, the PDU agents (fence_apc, fence_apc_snmp, ...), fence_virsh, fence_xvm and the hypervisor and cloud agents, fence_sbd and fence_kdump (see TOPOLOGY REQUIREMENT). Name here, separated by commas, the agents of your site that also power the host off and confirm it, as the CIB names them (the type of the stonith primitive: fence_foo, or external/foo for a cluster-glue plugin). Agents known to power nothing off (null, fence_dummy, fence_heuristics_ping, the notifiers, fabric fencing such as fence_scsi) are refused here."),
];

static MAN: &[ManSection] = &[
    ManSection {
        title: "EXAMPLES",
        body: "Power fence first, then Masakari, in one topology level. With pcs, create the device disabled, add the level, then enable it (its start runs a monitor, which fails until the level exists):

  pcs stonith create maas fence_maas ... pcmk_host_list=compute-1
  pcs stonith create masakari fence_masakari \\
      auth_url=http://keystone:5000/v3 username=masakari \\
      project_name=services password_script='cat /etc/oxha/ks' \\
      pcmk_host_list=compute-1 --disabled
  pcs stonith level add 1 compute-1 maas masakari
  pcs stonith enable masakari

The same with crm, in one commit:

  primitive masakari stonith:fence_masakari params \\
      auth_url=http://keystone:5000/v3 username=masakari \\
      project_name=services password_script='cat /etc/oxha/ks' \\
      pcmk_host_list=compute-1
  fencing_topology compute-1: maas,masakari",
    },
    ManSection {
        title: "TOPOLOGY REQUIREMENT",
        body: "fence_masakari powers nothing off: it tells Masakari that a host is down, and Masakari then starts its instances elsewhere, on the same shared storage. Telling it while the host still runs corrupts those disks. So fence_masakari only acts where the fencer can reach it solely after a power device has confirmed the host off, and it checks this itself, in the live CIB (cibadmin --query), every time:

For the target (the node name the fencer passes), the fencing levels that apply to it must exist (levels naming the node; else levels whose target-pattern or target-attribute matches it), and every one of them that holds a fence_masakari device must have a power device before the first fence_masakari device. The fencer runs the devices of a level in order and stops at the first failure, so reaching fence_masakari proves the power device succeeded. Patterns are evaluated as regular expressions; one that cannot be evaluated is refused.

A power device is decided on what its agent is, the type of its stonith primitive in the CIB: an agent known to succeed only once the host is confirmed off or dead. These are fence_maas; fence_ipmilan and its aliases (fence_ilo3, fence_ilo4, fence_ilo5, fence_idrac, fence_imm, fence_ipmilanplus); fence_redfish; the iLO, DRAC, AMT, RSA, ALOM and blade agents; the PDU agents (fence_apc, fence_apc_snmp, fence_eaton_snmp, fence_raritan, fence_wti, ...); fence_virsh, fence_xvm and the hypervisor and cloud agents (fence_vmware_rest, fence_ironic, fence_openstack, fence_aws, ...); fence_sbd (its off returns after sbd's msgwait, when the target's watchdog has fired); and fence_kdump (its off succeeds only on the message of the target's kdump kernel, that is once the kernel that ran the guests crashed). A device whose pcmk_off_action runs anything but off is no power device.

Everything else is refused, with the reason: stonith:null (cluster-glue's null plugin, which charm-hacluster creates as st-null and which reports success without touching power), fence_dummy, fence_heuristics_ping (not a fence agent by itself: it only lets the next device run), the notifiers (fence_masakari, fence_compute, fence_evacuate), fabric fencing (fence_scsi, fence_mpath, fence_ifmib, fence_brocade, fence_cisco_mds, fence_sanbox2: the host keeps running its guests), cluster-glue's external/ipmi (its off is not confirmed by a power status read), and any agent not in the list. A cluster-glue plugin (stonith:external/NAME) appears in the CIB with the type external/NAME and is run by the fencer through fence_legacy; name it, or a site-specific fence agent, in extra_power_agents if it powers the host off and confirms it.

off and reboot also run only when called by pacemaker-fenced (stonith_admin --reboot NODE goes through it); run by hand they are refused. Outside a cluster there is no CIB, and every action that names a host is refused.

Refused means exit 1 with the reason on standard error, and nothing sent to Masakari: the fence fails and Pacemaker keeps the host UNCLEAN, which is what must happen when its power state is unknown.

monitor (which Pacemaker also runs when the device starts) and validate-all check the whole configuration: every level holding a fence_masakari device has a power device before it, every fence_masakari device is in a level, and every host in a fence_masakari device's pcmk_host_list or pcmk_host_map passes the check above. A wrong topology thus shows as a failed device in crm_mon before any incident.

fence_masakari declares no list action, so the fencer never takes it for a device that can fence every host Masakari knows (pcmk_host_check=dynamic-list). Set pcmk_host_list or pcmk_host_map; without them the fencer asks status, which answers only for hosts whose topology passes the check.",
    },
    ManSection {
        title: "HOW IT WORKS",
        body: "Its off (and the off half of reboot) posts COMPUTE_HOST STOPPED with host_status NORMAL and cluster_status OFFLINE for the plug (the node name, which must be the Masakari host name; use pcmk_host_map when they differ). 202, 409 duplicate and 409 'under maintenance' are success. Network errors and 5xx are retried until power_timeout; then the fence fails and Pacemaker retries the level. Before it posts, it waits until nova counts the host's nova-compute service down (nova_down_wait), or with nova_force_down=true marks it forced_down (see NOVA SERVICE DOWN).

status is on when Masakari knows the host and it is not on maintenance, off when it is on maintenance (Masakari already treats it as failed), and an error when no segment has the host. on does nothing: once the host is healthy an operator clears on_maintenance, as Masakari requires. monitor checks that the API answers with these credentials, then the topology.

Requests go to keystone and Masakari only: a redirect answer is an error and is never followed (with the token or the password), no proxy is used unless the proxy parameter names one, and a URL with a user name or password in it is refused. All of it fits in total_timeout (default 50 s for off and reboot, 15 s for status and monitor): keep pcmk_off_timeout and pcmk_reboot_timeout (default: stonith-timeout, 60 s) at least 10 s above it.",
    },
    ManSection {
        title: "NOVA SERVICE DOWN",
        body: "Masakari disables the failed host's nova-compute service, then sleeps wait_period_after_service_update (default 180 s; charm-masakari's evacuation-delay) before it evacuates, because nova refuses to evacuate from a host whose service it still counts up, and nova counts a service up until it has missed heartbeats for service_down_time (default 60 s). That sleep is a guess at when nova will count the host down. fence_masakari does not guess, in one of two ways:

By default (nova_down_wait, 30 s) it asks nova every half second until nova counts the host down, and only then notifies: the host is off (the power device confirmed it) and nova now refuses nothing, so Masakari's sleep only delays the evacuation. When the wait runs out first (nova_down_wait shorter than what is left of service_down_time once the host is fenced) or nova cannot be asked, it notifies all the same and logs why; keep Masakari's wait then.

With nova_force_down=true it marks the service forced_down before it notifies: nova counts the host down from that moment, whatever service_down_time is.

Either way Masakari's wait protects nothing and can be set to 0 in masakari.conf:

  [DEFAULT]
  wait_period_after_service_update = 0

This is safe only while every COMPUTE_HOST notification Masakari gets comes from fence_masakari, and fence_masakari's log shows nova counting each host down (\"nova counts HOST down\") or forced_down: not from masakari-hostmonitor, which reports hosts before they are fenced and whatever nova counts them. Notifying once nova counts the host down also spares Masakari's disable call nova's RPC round trip to the dead host (nova-api asks a service it counts up to update its placement trait, and waits rpc_response_timeout, default 60 s, for the dead host's answer).

forced_down is cleared by the operator, not by fence_masakari's on: in a reboot the fencer runs on seconds after off, before Masakari has evacuated, and clearing it then would make nova count the host up again from its last heartbeat and refuse the evacuation. nova itself refuses to clear it (HTTP 400) while the host's evacuations are recorded as done, that is until the host's nova-compute has started again and cleaned up the evacuated instances; an instance evacuated twice (Masakari re-ran a recovery) leaves one record until nova-compute starts once more: restart it, then clear forced_down. Masakari keeps the host disabled and on maintenance until an operator reinserts it anyway; the reinsert, once nova-compute runs on the host again, is

  openstack --os-compute-api-version 2.53 compute service set --up HOST nova-compute
  openstack compute service set --enable HOST nova-compute
  openstack segment host update --on_maintenance=False SEGMENT HOST

(fence_compute's on does clear it, after NovaEvacuate has marked the evacuation done in a node attribute; Masakari offers no such signal in the cluster.)",
    },
    ManSection {
        title: "DIFFERENCES FROM MASAKARI-HOSTMONITOR AND FENCE_COMPUTE",
        body: "masakari-hostmonitor reports a host as soon as Pacemaker shows it offline, from every compute node, whether or not it was fenced (an orderly pacemaker_remote stop looks the same). fence_masakari reports once per fencing, and only after the power fence succeeded.

fence_compute (fence-agents) marks the nova service down and leaves evacuation to NovaEvacuate; fence_masakari hands the host to Masakari's own recovery (segments, reserved hosts, recovery methods), and can mark the service forced_down too.",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "fence_masakari",
    kind: AgentKind::Fence,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Tells Masakari a power-fenced compute host is down",
    longdesc: "fence_masakari is used as the second device of a fencing-topology level, after the power fence (fence_maas, fence_ipmilan, ...). When Pacemaker fences a compute node it posts a COMPUTE_HOST STOPPED notification (host_status NORMAL, cluster_status OFFLINE) to Masakari, which then evacuates the host's instances. It does not power anything off itself, and it refuses to act unless the fencing topology in the CIB puts a power device before it (see TOPOLOGY REQUIREMENT).",
    params: PARAMS,
    param_groups: &[CONNECTION_PARAMS, ocf_lib::fence::STANDARD_OPTIONS],
    actions: ocf_lib::fence::NO_LIST_ACTIONS,
    man_sections: MAN,
};

/// How often nova is asked whether it counts a fenced host down.
const NOVA_DOWN_POLL: Duration = Duration::from_millis(500);

pub struct MasakariFence {
    client: MasakariClient,
    nova_force_down: bool,
    /// Zero when off (nova_down_wait=0, or auth_mode=noauth).
    nova_down_wait: Duration,
    /// Hosts whose STOPPED notification this run delivered.
    notified: HashSet<String>,
    /// Hosts this run was asked to power on (a no-op for Masakari).
    powered_on: HashSet<String>,
}

fn fence_error(f: Failure) -> FenceError {
    match f {
        Failure::Transient(m) => FenceError::connection(format!("Masakari unreachable: {m}")),
        Failure::Refused(code @ (401 | 403), m) => FenceError::login(format!(
            "Masakari or keystone refused the credentials (HTTP {code}): {m}"
        )),
        Failure::Refused(code, m) => FenceError::status(format!("HTTP {code}: {m}")),
    }
}

/// The names the topology is checked for: the node name the fencer passes, else the plugs.
fn targets(ctx: &FenceContext) -> Vec<String> {
    match ctx.params.string("nodename") {
        Some(n) => vec![n],
        None => ctx.plugs.clone(),
    }
}

/// The process that started this one, as `/proc` names it.
fn parent_name() -> Option<String> {
    let ppid = std::os::unix::process::parent_id();
    std::fs::read_to_string(format!("/proc/{ppid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

/// off and reboot only under the fencer: a person running `fence_masakari -o off` by hand
/// would tell Masakari a host is down that nobody powered off.
fn require_fencer(action: &str) -> Result<(), FenceError> {
    let parent = parent_name().unwrap_or_default();
    // comm is cut to 15 characters: pacemaker-fenced reads "pacemaker-fence".
    if parent.starts_with("pacemaker-fence") || parent == "stonithd" {
        return Ok(());
    }
    Err(FenceError::refused(format!(
        "{action} is only run by pacemaker-fenced, after a power device of the same fencing level confirmed the host off (called by '{parent}'); use stonith_admin --reboot NODE"
    )))
}

/// The guard with this device's own additions (`extra_power_agents`).
fn guard(ctx: &FenceContext) -> Result<topology::Guard, FenceError> {
    let extra_power_agents = match ctx.params.string("extra_power_agents") {
        Some(value) => topology::parse_extra_power_agents(&value).map_err(FenceError::config)?,
        None => Vec::new(),
    };
    Ok(topology::Guard { extra_power_agents })
}

/// The topology check for every target of this invocation.
fn check_topology(ctx: &FenceContext) -> Result<(), FenceError> {
    let guard = guard(ctx)?;
    let cib = ocf_lib::cib::query(&ctx.budget).map_err(|e| {
        FenceError::refused(format!(
            "{e}: fence_masakari acts only inside a cluster whose fencing topology puts a power device before it"
        ))
    })?;
    for target in targets(ctx) {
        guard
            .check_target(&cib, &target)
            .map_err(FenceError::refused)?;
    }
    Ok(())
}

fn check_configuration(ctx: &FenceContext) -> Result<(), FenceError> {
    let guard = guard(ctx)?;
    let cib = ocf_lib::cib::query(&ctx.budget).map_err(FenceError::refused)?;
    guard.check_all(&cib).map_err(FenceError::refused)
}

impl MasakariFence {
    /// Marks nova-compute of `plug` forced down, retrying transient failures until `deadline`.
    fn force_down(&mut self, ctx: &FenceContext, plug: &str) -> Result<(), FenceError> {
        let deadline = ctx.power_deadline();
        loop {
            match nova::force_down(self.client.session(), plug) {
                Ok(_) => {
                    ocf_lib::info!("nova-compute of {plug} is forced_down");
                    return Ok(());
                }
                Err(Failure::Transient(m)) => {
                    ocf_lib::warn!("nova force_down of {plug} failed: {m}");
                    if !deadline.sleep(ctx.status_sleep) {
                        return Err(if ctx.budget.expired() {
                            ctx.out_of_time(&format!("marking {plug} forced_down in nova: {m}"))
                        } else {
                            FenceError::timed_out(format!(
                                "nova did not mark {plug} forced_down within power_timeout: {m}"
                            ))
                        });
                    }
                }
                Err(f) => return Err(FenceError::power(format!("nova force_down of {plug}: {f}"))),
            }
        }
    }

    /// Waits (`nova_down_wait`) until nova counts `plug` down. Never fails the fence: the host
    /// is off, and Masakari must hear of it whatever nova says; its evacuation then waits for
    /// nova (wait_period_after_service_update) as it would without this agent.
    fn wait_nova_down(&mut self, ctx: &FenceContext, plug: &str) {
        // The last question to nova may take a request's time past the wait, and the
        // notification needs one more: both within the action's budget.
        let request = self.client.session().connection().request_timeout;
        let reserve = request * 2 + Duration::from_secs(1);
        let room = ctx
            .budget
            .remaining()
            .map(|left| left.saturating_sub(reserve));
        let wait = room.map_or(self.nova_down_wait, |r| r.min(self.nova_down_wait));
        if wait.is_zero() {
            ocf_lib::warn!(
                "no time left to wait for nova to count {plug} down: Masakari is told now"
            );
            return;
        }
        let asked = Instant::now();
        let deadline = ocf_lib::Deadline::after(wait);
        match nova::wait_counted_down(self.client.session(), plug, &deadline, NOVA_DOWN_POLL) {
            Ok(true) => ocf_lib::info!(
                "nova counts {plug} down ({:.1}s)",
                asked.elapsed().as_secs_f64()
            ),
            Ok(false) => ocf_lib::warn!(
                "nova still counts {plug} up after {:.1}s (nova_down_wait): Masakari is told now, and its evacuation waits for nova",
                wait.as_secs_f64()
            ),
            Err(f) => ocf_lib::warn!(
                "cannot ask nova whether it counts {plug} down: {f}; Masakari is told now"
            ),
        }
    }

    fn notify(&mut self, ctx: &FenceContext, plug: &str) -> Result<(), FenceError> {
        let mut payload = serde_json::Map::new();
        payload.insert("event".into(), "STOPPED".into());
        payload.insert("host_status".into(), "NORMAL".into());
        payload.insert("cluster_status".into(), "OFFLINE".into());
        // One generated_time for every attempt: a re-send that did reach Masakari is then a
        // duplicate (409), not a second host failure.
        let notification = Notification {
            kind: "COMPUTE_HOST".into(),
            hostname: plug.to_string(),
            generated_time: ocf_lib::clock::utc_rfc3339(SystemTime::now()),
            payload,
        };
        let deadline = ctx.power_deadline();
        loop {
            let last = match self.client.post_notification(&notification) {
                PostOutcome::Accepted(uuid) => {
                    ocf_lib::info!("Masakari accepted host failure of {plug}: notification {uuid}");
                    return Ok(());
                }
                PostOutcome::Duplicate(m) => {
                    ocf_lib::info!("Masakari already has the failure of {plug}: {m}");
                    return Ok(());
                }
                PostOutcome::Maintenance(m) => {
                    ocf_lib::info!("Masakari host {plug} is already on maintenance: {m}");
                    return Ok(());
                }
                PostOutcome::UnknownHost(m) => {
                    return Err(FenceError::power(format!(
                        "Masakari does not know host '{plug}': {m}"
                    )))
                }
                PostOutcome::Failed(Failure::Transient(m)) => {
                    ocf_lib::warn!("notification for {plug} not delivered: {m}");
                    m
                }
                PostOutcome::Failed(f) => return Err(fence_error(f)),
            };
            if !deadline.sleep(ctx.status_sleep) {
                return Err(if ctx.budget.expired() {
                    ctx.out_of_time(&format!("notifying Masakari of {plug}: {last}"))
                } else {
                    FenceError::timed_out(format!(
                        "Masakari did not take the failure of {plug} within power_timeout: {last}"
                    ))
                });
            }
        }
    }
}

impl FenceAgent for MasakariFence {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_options(ctx: &FenceContext) -> Result<Self, FenceError> {
        let connection = Connection::from_params(&ctx.params).map_err(FenceError::config)?;
        let nova_force_down = ctx.params.bool("nova_force_down")?;
        // Asking nova needs its endpoint from keystone's catalog.
        let nova_down_wait = match (&connection.auth, nova_force_down) {
            (Auth::Keystone(_), false) => {
                ctx.params.duration("nova_down_wait")?.unwrap_or_default()
            }
            _ => Duration::ZERO,
        };
        if nova_force_down && matches!(connection.auth, Auth::NoAuth) {
            return Err(FenceError::config(
                "nova_force_down=true needs auth_mode=keystone (the compute endpoint comes from the catalog)",
            ));
        }
        // Before anything is asked of Masakari: may this invocation speak for its target?
        if matches!(ctx.action.as_str(), "off" | "reboot") {
            require_fencer(&ctx.action)?;
        }
        if matches!(ctx.action.as_str(), "on" | "off" | "reboot" | "status") {
            check_topology(ctx)?;
        }
        let session = Session::new(connection, ctx.budget).map_err(FenceError::config)?;
        Ok(MasakariFence {
            client: MasakariClient::new(session),
            nova_force_down,
            nova_down_wait,
            notified: HashSet::new(),
            powered_on: HashSet::new(),
        })
    }

    fn get_power_status(
        &mut self,
        _ctx: &FenceContext,
        plug: &str,
    ) -> Result<PowerState, FenceError> {
        if self.powered_on.contains(plug) {
            return Ok(PowerState::On);
        }
        if self.notified.contains(plug) {
            return Ok(PowerState::Off);
        }
        match self.client.find_host(plug).map_err(fence_error)? {
            None => Err(FenceError::status(format!(
                "host '{plug}' is in no Masakari segment"
            ))),
            Some(host) if host.on_maintenance => {
                ocf_lib::info!("Masakari host {plug} is on maintenance: already handled as failed");
                Ok(PowerState::Off)
            }
            Some(_) => Ok(PowerState::On),
        }
    }

    fn set_power_status(
        &mut self,
        ctx: &FenceContext,
        plug: &str,
        state: PowerState,
    ) -> Result<(), FenceError> {
        if state == PowerState::On {
            ocf_lib::info!("power on of {plug}: nothing to tell Masakari (clear on_maintenance when the host is healthy)");
            self.powered_on.insert(plug.to_string());
            return Ok(());
        }
        if self.nova_force_down {
            self.force_down(ctx, plug)?;
        } else if !self.nova_down_wait.is_zero() {
            self.wait_nova_down(ctx, plug);
        }
        self.notify(ctx, plug)?;
        self.notified.insert(plug.to_string());
        Ok(())
    }

    fn monitor(&mut self, ctx: &FenceContext) -> Result<(), FenceError> {
        self.client.segments().map_err(fence_error)?;
        check_configuration(ctx)
    }

    fn validate(&mut self, ctx: &FenceContext) -> Result<(), FenceError> {
        check_configuration(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_fence_classes() {
        use ocf_lib::fence::FenceErrorKind;
        assert_eq!(
            fence_error(Failure::Transient("refused".into())).kind,
            FenceErrorKind::ConnectionLost
        );
        assert_eq!(
            fence_error(Failure::Refused(401, "no".into())).kind,
            FenceErrorKind::LoginDenied
        );
        assert_eq!(
            fence_error(Failure::Refused(400, "bad".into())).kind,
            FenceErrorKind::Status
        );
    }

    #[test]
    fn no_list_and_no_run_by_hand() {
        assert!(!META.has_action("list") && !META.has_action("list-status"));
        let err = require_fencer("off").expect_err("a test is not pacemaker-fenced");
        assert!(
            err.message.contains("only run by pacemaker-fenced"),
            "{err}"
        );
    }
}

ocf_lib::man_page_test!(META);
