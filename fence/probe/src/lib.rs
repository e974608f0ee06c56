//! `fence_probe`: every plug is a file in `plug_dir` holding `on` or `off`. A power change
//! is written to `<plug>.pending` and takes effect after `lag` status reads, so the library's
//! confirm-by-polling path runs for real. A test fixture, not installed by default.

use ocf_lib::fence::{FenceAgent, FenceContext, FenceError, Plug, PowerState};
use ocf_lib::{AgentKind, AgentMeta, Param};
use std::path::PathBuf;

static PARAMS: &[Param] = &[
    Param::string("plug_dir", "Directory holding one file per plug").required(),
    Param::integer("lag", "Status reads before a power change shows").default("2"),
];

pub static META: AgentMeta = AgentMeta {
    name: "fence_probe",
    kind: AgentKind::Fence,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "File-backed test fence agent for ocf-lib",
    longdesc: "Fences plugs that are files. It exists to test ocf-lib's fence protocol; it fences nothing.",
    params: PARAMS,
    param_groups: &[ocf_lib::fence::STANDARD_OPTIONS],
    actions: ocf_lib::fence::MULTI_PLUG_ACTIONS,
    man_sections: &[],
};

pub struct FileFence {
    dir: PathBuf,
    lag: u32,
}

impl FileFence {
    fn file(&self, plug: &str) -> Result<PathBuf, FenceError> {
        if plug.is_empty() || plug.contains('/') || plug.contains('.') {
            return Err(FenceError::status(format!("invalid plug name '{plug}'")));
        }
        Ok(self.dir.join(plug))
    }
    fn read(path: &PathBuf) -> Option<String> {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    }
}

fn parse_state(s: &str) -> Option<PowerState> {
    match s {
        "on" => Some(PowerState::On),
        "off" => Some(PowerState::Off),
        _ => None,
    }
}

impl FenceAgent for FileFence {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_options(ctx: &FenceContext) -> Result<Self, FenceError> {
        Ok(FileFence {
            dir: PathBuf::from(ctx.params.required_string("plug_dir")?),
            lag: ctx.params.integer("lag")?.unwrap_or(2),
        })
    }

    fn get_power_status(
        &mut self,
        _ctx: &FenceContext,
        plug: &str,
    ) -> Result<PowerState, FenceError> {
        let path = self.file(plug)?;
        let current = Self::read(&path)
            .ok_or_else(|| FenceError::status(format!("no such plug '{plug}'")))?;
        let pending = path.with_extension("pending");
        if let Some(p) = Self::read(&pending) {
            // "<state> <reads left>"
            let mut it = p.split_whitespace();
            let target = it.next().unwrap_or("");
            let left: u32 = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            if left == 0 {
                std::fs::write(&path, target).map_err(|e| FenceError::power(e.to_string()))?;
                let _ = std::fs::remove_file(&pending);
                return parse_state(target).ok_or_else(|| FenceError::status("bad pending state"));
            }
            let _ = std::fs::write(&pending, format!("{target} {}", left - 1));
        }
        parse_state(&current)
            .ok_or_else(|| FenceError::status(format!("plug '{plug}' state is '{current}'")))
    }

    fn set_power_status(
        &mut self,
        _ctx: &FenceContext,
        plug: &str,
        state: PowerState,
    ) -> Result<(), FenceError> {
        let path = self.file(plug)?;
        if Self::read(&path).is_none() {
            return Err(FenceError::status(format!("no such plug '{plug}'")));
        }
        let word = if state == PowerState::On { "on" } else { "off" };
        let log = self.dir.join("log");
        let mut history = std::fs::read_to_string(&log).unwrap_or_default();
        history.push_str(&format!("{plug} {word}\n"));
        std::fs::write(&log, history).map_err(|e| FenceError::power(e.to_string()))?;
        std::fs::write(
            path.with_extension("pending"),
            format!("{word} {}", self.lag),
        )
        .map_err(|e| FenceError::power(e.to_string()))
    }

    fn list(&mut self, _ctx: &FenceContext) -> Result<Vec<Plug>, FenceError> {
        let mut plugs = Vec::new();
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| FenceError::connection(e.to_string()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.contains('.') || name == "log" {
                continue;
            }
            let state = Self::read(&entry.path()).and_then(|s| parse_state(&s));
            plugs.push(Plug {
                alias: format!("{name}-alias"),
                id: name,
                state,
            });
        }
        plugs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(plugs)
    }
}

ocf_lib::man_page_test!(META);
