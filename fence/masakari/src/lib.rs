//! `fence_masakari`: the second device of a fencing-topology level, after the power fence.
//! Pacemaker runs it only once the power device confirmed the node off, and it then tells
//! Masakari the compute host is down (`COMPUTE_HOST` / `STOPPED` / `host_status NORMAL` /
//! `cluster_status OFFLINE`), so Masakari evacuates only hosts that are really off.
//!
//! How that maps onto ocf-lib's off sequence (status → set → confirm by status):
//! * status: Masakari's view of the host: on maintenance (Masakari already handles it as
//!   failed, and would refuse a new notification with 409) is "off", otherwise "on". After
//!   this process delivered the notification, the host is "off" for the rest of the run.
//! * set off: POST the notification; 202, 409 duplicate and 409 maintenance count as
//!   delivered. Network errors and 5xx are retried until `power_timeout`.
//! * set on: nothing to tell Masakari (an operator clears `on_maintenance` once the host is
//!   healthy); reported as done so `reboot` completes.

use masakari_restart::client::{Client, Failure, Notification, PostOutcome};
use masakari_restart::CONNECTION_PARAMS;
use ocf_lib::fence::{opt, FenceAgent, FenceContext, FenceError, Plug, PowerState};
use ocf_lib::{AgentKind, AgentMeta, ManSection, Param};
use std::collections::HashSet;
use std::time::SystemTime;

static PARAMS: &[Param] = &[
    CONNECTION_PARAMS[0],
    CONNECTION_PARAMS[1],
    CONNECTION_PARAMS[2],
    CONNECTION_PARAMS[3],
    CONNECTION_PARAMS[4],
    opt::PASSWORD_SCRIPT,
    CONNECTION_PARAMS[5],
    CONNECTION_PARAMS[6],
    CONNECTION_PARAMS[7],
    CONNECTION_PARAMS[8],
    CONNECTION_PARAMS[9],
    CONNECTION_PARAMS[10],
    CONNECTION_PARAMS[11],
    CONNECTION_PARAMS[12],
];

static MAN: &[ManSection] = &[
    ManSection {
        title: "EXAMPLES",
        body: "Power fence first, then Masakari, in one topology level (pcs):

  pcs stonith create maas fence_maas ... pcmk_host_list=compute-1
  pcs stonith create masakari fence_masakari \\
      auth_url=http://keystone:5000/v3 username=masakari \\
      project_name=services password_script='cat /etc/oxha/ks' \\
      pcmk_host_list=compute-1
  pcs stonith level add 1 compute-1 maas masakari

The same with crm:

  primitive masakari stonith:fence_masakari params \\
      auth_url=http://keystone:5000/v3 username=masakari \\
      project_name=services password_script='cat /etc/oxha/ks' \\
      pcmk_host_list=compute-1
  fencing_topology compute-1: maas,masakari",
    },
    ManSection {
        title: "HOW IT WORKS",
        body: "Pacemaker runs the devices of a level in order and stops at the first failure, so fence_masakari runs only after the power device confirmed the node off. Its off (and the off half of reboot) posts COMPUTE_HOST STOPPED with host_status NORMAL and cluster_status OFFLINE for the plug (the node name, which must be the Masakari host name). 202, 409 duplicate and 409 'under maintenance' are success. Network errors and 5xx are retried until power_timeout; then the fence fails and Pacemaker retries the level.

status is on when Masakari knows the host and it is not on maintenance, off when it is on maintenance (Masakari already treats it as failed), and an error when no segment has the host. on does nothing: once the host is healthy an operator clears on_maintenance, as Masakari requires. list prints the Masakari hosts; monitor checks that the API answers with these credentials.",
    },
    ManSection {
        title: "DIFFERENCES FROM MASAKARI-HOSTMONITOR AND FENCE_COMPUTE",
        body: "masakari-hostmonitor reports a host as soon as Pacemaker shows it offline, from every compute node, whether or not it was fenced (an orderly pacemaker_remote stop looks the same). fence_masakari reports once per fencing, and only after the power fence succeeded.

fence_compute (fence-agents) marks the nova service down and leaves evacuation to NovaEvacuate; fence_masakari hands the host to Masakari's own recovery (segments, reserved hosts, recovery methods).",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "fence_masakari",
    kind: AgentKind::Fence,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Tells Masakari a power-fenced compute host is down",
    longdesc: "fence_masakari is used as the second device of a fencing-topology level, after the power fence (fence_maas, fence_ipmilan, ...). When Pacemaker fences a compute node it posts a COMPUTE_HOST STOPPED notification (host_status NORMAL, cluster_status OFFLINE) to Masakari, which then evacuates the host's instances. It does not power anything off itself.",
    params: PARAMS,
    param_groups: &[ocf_lib::fence::STANDARD_OPTIONS],
    actions: ocf_lib::fence::MULTI_PLUG_ACTIONS,
    man_sections: MAN,
};

pub struct MasakariFence {
    client: Client,
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
        Failure::Refused(code, m) => {
            FenceError::status(format!("Masakari answered HTTP {code}: {m}"))
        }
    }
}

impl FenceAgent for MasakariFence {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_options(ctx: &FenceContext) -> Result<Self, FenceError> {
        let mut config =
            masakari_restart::client_config(&ctx.params).map_err(FenceError::config)?;
        // The fence's own request budget: shell_timeout is fencing.py's per-request timeout,
        // but 3 s is short for keystone + Masakari; take the larger of the two.
        config.timeout = config.timeout.max(ctx.request_timeout);
        let client = Client::new(config).map_err(FenceError::config)?;
        Ok(MasakariFence {
            client,
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
            Some(host) if host["on_maintenance"].as_bool() == Some(true) => {
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
        let mut payload = serde_json::Map::new();
        payload.insert("event".into(), "STOPPED".into());
        payload.insert("host_status".into(), "NORMAL".into());
        payload.insert("cluster_status".into(), "OFFLINE".into());
        // One generated_time for every attempt: a re-send that did reach Masakari is then a
        // duplicate (409), not a second host failure.
        let notification = Notification {
            kind: "COMPUTE_HOST".into(),
            hostname: plug.to_string(),
            generated_time: masakari_restart::client::utc_timestamp(SystemTime::now()),
            payload,
        };
        let deadline = ctx.power_deadline();
        let mut last: String;
        loop {
            match self.client.post_notification(&notification) {
                PostOutcome::Accepted(uuid) => {
                    ocf_lib::info!("Masakari accepted host failure of {plug}: notification {uuid}");
                    break;
                }
                PostOutcome::Duplicate(m) => {
                    ocf_lib::info!("Masakari already has the failure of {plug}: {m}");
                    break;
                }
                PostOutcome::Maintenance(m) => {
                    ocf_lib::info!("Masakari host {plug} is already on maintenance: {m}");
                    break;
                }
                PostOutcome::UnknownHost(m) => {
                    return Err(FenceError::power(format!(
                        "Masakari does not know host '{plug}': {m}"
                    )))
                }
                PostOutcome::Failed(Failure::Transient(m)) => {
                    ocf_lib::warn!("notification for {plug} not delivered: {m}");
                    last = m;
                }
                PostOutcome::Failed(f) => return Err(fence_error(f)),
            }
            if !deadline.sleep(ctx.status_sleep) {
                return Err(FenceError::timed_out(format!(
                    "Masakari did not take the failure of {plug} within power_timeout: {last}"
                )));
            }
        }
        self.notified.insert(plug.to_string());
        Ok(())
    }

    fn list(&mut self, _ctx: &FenceContext) -> Result<Vec<Plug>, FenceError> {
        let segments = self.client.get("segments").map_err(fence_error)?;
        let mut plugs = Vec::new();
        for seg in segments["segments"].as_array().into_iter().flatten() {
            let (Some(uuid), Some(seg_name)) = (seg["uuid"].as_str(), seg["name"].as_str()) else {
                continue;
            };
            let hosts = self
                .client
                .get(&format!("segments/{uuid}/hosts"))
                .map_err(fence_error)?;
            for h in hosts["hosts"].as_array().into_iter().flatten() {
                let Some(name) = h["name"].as_str() else {
                    continue;
                };
                let state = if h["on_maintenance"].as_bool() == Some(true) {
                    PowerState::Off
                } else {
                    PowerState::On
                };
                plugs.push(Plug {
                    id: name.to_string(),
                    alias: seg_name.to_string(),
                    state: Some(state),
                });
            }
        }
        plugs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(plugs)
    }

    fn monitor(&mut self, _ctx: &FenceContext) -> Result<(), FenceError> {
        self.client.get("segments").map(|_| ()).map_err(fence_error)
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
}

ocf_lib::man_page_test!(META);
