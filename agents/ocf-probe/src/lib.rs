//! `ocf:oxha:ocf-probe`: a state-file agent like `ocf:pacemaker:Dummy`, built on ocf-lib so the
//! library's protocol handling can be tested under a real Pacemaker and `ocf-tester`.
//! It is a test fixture: `make install` leaves it out unless `WITH_TEST_AGENTS=1`.

use ocf_lib::ra::{Context, ResourceAgent};
use ocf_lib::{ActionMeta, AgentKind, AgentMeta, Param};
use ocf_lib::{OcfError, OcfResult, OcfStatus};
use std::path::PathBuf;
use std::time::Duration;

static PARAMS: &[Param] = &[
    Param::string("state", "State file")
        .longdesc(
            "File whose existence means 'running'. Default: $HA_RSCTMP/ocf-probe-<instance>.state.",
        )
        .unique_group("state"),
    Param::string("fake", "A parameter that can be changed without a restart").reloadable(),
    Param::duration("op_sleep", "Time start and stop take")
        .longdesc(
            "Time start and stop take (10, 10s, 500ms, 1min). An operation that would not finish \
within its Pacemaker timeout fails early with a reason instead of being killed.",
        )
        .default("0"),
];

static ACTIONS: &[ActionMeta] = &[
    ActionMeta::new("start", 20),
    ActionMeta::new("stop", 20),
    ActionMeta::new("monitor", 20).interval(10).depth(0),
    ActionMeta::new("reload-agent", 20),
    ActionMeta::new("validate-all", 20),
    ActionMeta::new("meta-data", 5),
];

pub static META: AgentMeta = AgentMeta {
    name: "ocf-probe",
    kind: AgentKind::Resource,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "State-file test agent for ocf-lib",
    longdesc: "Starts by creating a state file and stops by removing it. \
It exists to test ocf-lib's protocol handling under a real cluster; it manages nothing.",
    params: PARAMS,
    param_groups: &[],
    actions: ACTIONS,
    man_sections: &[],
};

pub struct Probe {
    state: PathBuf,
    fake: Option<String>,
    op_sleep: Duration,
}

impl Probe {
    /// Takes `op_sleep`, unless that would overrun the operation's deadline.
    fn take_time(&self, ctx: &Context) -> Result<(), OcfError> {
        if ctx.deadline.sleep(self.op_sleep) {
            Ok(())
        } else {
            Err(OcfError::generic(format!(
                "{} would take {:?}, more than the {:?} timeout allows",
                ctx.action.name(),
                self.op_sleep,
                ctx.timeout
            )))
        }
    }
}

impl ResourceAgent for Probe {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_params(ctx: &Context) -> Result<Self, OcfError> {
        let state = ctx
            .params
            .string("state")
            .map(PathBuf::from)
            .unwrap_or_else(|| ctx.state_file(".state"));
        Ok(Probe {
            state,
            fake: ctx.params.string("fake"),
            op_sleep: ctx.params.duration("op_sleep")?.unwrap_or_default(),
        })
    }

    fn start(&self, ctx: &Context) -> OcfResult {
        if self.monitor(ctx)? == OcfStatus::Success {
            return Ok(OcfStatus::Success);
        }
        self.take_time(ctx)?;
        std::fs::write(&self.state, self.fake.as_deref().unwrap_or("")).map_err(|e| {
            OcfError::generic(format!("cannot create {}: {e}", self.state.display()))
        })?;
        Ok(OcfStatus::Success)
    }

    fn stop(&self, ctx: &Context) -> OcfResult {
        self.take_time(ctx)?;
        match std::fs::remove_file(&self.state) {
            Ok(()) => Ok(OcfStatus::Success),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OcfStatus::Success),
            Err(e) => Err(OcfError::generic(format!(
                "cannot remove {}: {e}",
                self.state.display()
            ))),
        }
    }

    fn monitor(&self, _ctx: &Context) -> OcfResult {
        if self.state.exists() {
            Ok(OcfStatus::Success)
        } else {
            Ok(OcfStatus::NotRunning)
        }
    }

    fn reload_agent(&self, ctx: &Context) -> OcfResult {
        if self.monitor(ctx)? == OcfStatus::Success {
            std::fs::write(&self.state, self.fake.as_deref().unwrap_or("")).map_err(|e| {
                OcfError::generic(format!("cannot update {}: {e}", self.state.display()))
            })?;
        }
        Ok(OcfStatus::Success)
    }
}

ocf_lib::man_page_test!(META);
