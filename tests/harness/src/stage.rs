//! `./stage`, the tree of release binaries the integration tests run (`make stage`), and the
//! guarantee that it is the code under test: a staged binary older than any source it is built
//! from (its crate's and every workspace crate it depends on), or a missing stage, fails the
//! test with "run `make stage`" instead of quietly testing an old build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::workspace_root;

/// Where `make stage` installs the release binaries (`make install DESTDIR=stage`, plus
/// `tools/`). `OXHA_STAGE` overrides it. Checked once per test process: every staged binary
/// must be newer than its sources; panics otherwise.
pub fn stage_dir() -> PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match CHECKED.get_or_init(|| {
        let stage = std::env::var_os("OXHA_STAGE")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("stage"));
        check_stage(&stage).map(|()| stage)
    }) {
        Ok(stage) => stage.clone(),
        Err(why) => panic!("{why}"),
    }
}

/// A staged OCF agent: `ocf_agent("vip")` is `<stage>/usr/lib/ocf/resource.d/oxha/vip`.
pub fn ocf_agent(name: &str) -> PathBuf {
    staged(stage_dir().join("usr/lib/ocf/resource.d/oxha").join(name))
}

/// A staged fence agent: `fence_agent("fence_maas")` is `<stage>/usr/sbin/fence_maas`.
pub fn fence_agent(name: &str) -> PathBuf {
    staged(stage_dir().join("usr/sbin").join(name))
}

/// A staged test tool (a workspace binary that is not an agent): `tool("maas-sim")`.
pub fn tool(name: &str) -> PathBuf {
    staged(stage_dir().join("tools").join(name))
}

#[track_caller]
fn staged(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is not staged: run `make stage`",
        path.display()
    );
    path
}

/// Every binary under `stage` against the sources of the package that builds it.
fn check_stage(stage: &Path) -> Result<(), String> {
    let binaries = staged_binaries(stage);
    if binaries.is_empty() {
        return Err(format!(
            "no staged binaries in {}: run `make stage` (the tests run the release binaries it installs)",
            stage.display()
        ));
    }
    let workspace = Workspace::read()?;
    let mut stale = Vec::new();
    for bin in &binaries {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(package) = workspace.package_of_binary(&name) else {
            return Err(format!(
                "{} is staged but no workspace crate builds a binary named {name}: run `make stage` \
                 (a clean stage holds only what the workspace builds)",
                bin.display()
            ));
        };
        let built = mtime(bin).unwrap_or(SystemTime::UNIX_EPOCH);
        if let Some((source, _)) = workspace
            .sources_of(package)
            .into_iter()
            .filter_map(|f| mtime(&f).map(|t| (f, t)))
            .find(|(_, t)| *t > built)
        {
            stale.push(format!(
                "{} is older than {}",
                bin.display(),
                source.display()
            ));
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the staged binaries are stale: run `make stage` ({})",
            stale.join("; ")
        ))
    }
}

fn staged_binaries(stage: &Path) -> Vec<PathBuf> {
    ["usr/lib/ocf/resource.d/oxha", "usr/sbin", "tools"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(stage.join(dir)).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect()
}

/// The most recently built binary of the stage, with its time.
pub(crate) fn newest_binary(stage: &Path) -> Option<(PathBuf, SystemTime)> {
    staged_binaries(stage)
        .into_iter()
        .filter_map(|b| mtime(&b).map(|t| (b, t)))
        .max_by_key(|(_, t)| *t)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// What `cargo metadata` says of the workspace: which package builds which binary, where each
/// package lives and which workspace packages it depends on (build and normal dependencies:
/// what goes into the binary).
struct Workspace {
    root: PathBuf,
    binaries: BTreeMap<String, String>,
    dirs: BTreeMap<String, PathBuf>,
    deps: BTreeMap<String, Vec<String>>,
}

impl Workspace {
    fn read() -> Result<Workspace, String> {
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(&root)
            .output()
            .map_err(|e| format!("cannot run {cargo} metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("cargo metadata: unreadable answer: {e}"))?;
        let mut ws = Workspace {
            root,
            binaries: BTreeMap::new(),
            dirs: BTreeMap::new(),
            deps: BTreeMap::new(),
        };
        for package in meta["packages"].as_array().into_iter().flatten() {
            let name = package["name"].as_str().unwrap_or_default().to_string();
            let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
            if let Some(dir) = manifest.parent() {
                ws.dirs.insert(name.clone(), dir.to_path_buf());
            }
            for target in package["targets"].as_array().into_iter().flatten() {
                let is_bin = target["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"));
                if is_bin {
                    let bin = target["name"].as_str().unwrap_or_default().to_string();
                    ws.binaries.insert(bin, name.clone());
                }
            }
            let deps = package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["path"].is_string() && d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str().map(str::to_string))
                .collect();
            ws.deps.insert(name, deps);
        }
        Ok(ws)
    }

    fn package_of_binary(&self, binary: &str) -> Option<&str> {
        self.binaries.get(binary).map(String::as_str)
    }

    /// The files a package's binaries are built from: its `src/`, `build.rs` and manifest, the
    /// same of every workspace package it depends on, and the workspace's manifest and lock
    /// file (profile and dependency versions).
    fn sources_of(&self, package: &str) -> Vec<PathBuf> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![package.to_string()];
        while let Some(p) = todo.pop() {
            if seen.insert(p.clone()) {
                todo.extend(self.deps.get(&p).into_iter().flatten().cloned());
            }
        }
        let mut files = vec![self.root.join("Cargo.toml"), self.root.join("Cargo.lock")];
        for dir in seen.iter().filter_map(|p| self.dirs.get(p)) {
            files.push(dir.join("Cargo.toml"));
            files.push(dir.join("build.rs"));
            walk(&dir.join("src"), &mut files);
        }
        files
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stage_with(name: &str, age: Duration) -> PathBuf {
        let stage = std::env::temp_dir().join(format!(
            "oxha-stage-test-{name}-{}-{}",
            std::process::id(),
            age.as_secs()
        ));
        let _ = std::fs::remove_dir_all(&stage);
        let dir = stage.join("usr/lib/ocf/resource.d/oxha");
        std::fs::create_dir_all(&dir).expect("stage dir");
        let bin = dir.join(name);
        let file = std::fs::File::create(&bin).expect("binary");
        file.set_modified(SystemTime::now() - age).expect("mtime");
        stage
    }

    #[test]
    fn a_missing_stage_says_make_stage() {
        let err = check_stage(Path::new("/nonexistent/stage")).expect_err("no stage");
        assert!(err.contains("run `make stage`"), "{err}");
    }

    #[test]
    fn a_binary_older_than_its_sources_is_stale() {
        // Older than any checkout: every source of the vip crate (and ocf-lib) is newer.
        let stage = stage_with("vip", Duration::from_secs(100 * 365 * 86400));
        let err = check_stage(&stage).expect_err("stale");
        let _ = std::fs::remove_dir_all(&stage);
        assert!(err.contains("stale: run `make stage`"), "{err}");
        assert!(
            err.contains("/agents/vip/") || err.contains("/ocf-lib/") || err.contains("Cargo"),
            "{err}"
        );
    }

    #[test]
    fn a_binary_newer_than_its_sources_is_fresh() {
        let stage = stage_with("vip", Duration::ZERO);
        // A source edited after staging would make it stale; nothing is edited here.
        let file = std::fs::File::options()
            .write(true)
            .open(stage.join("usr/lib/ocf/resource.d/oxha/vip"))
            .expect("binary");
        file.set_modified(SystemTime::now() + Duration::from_secs(3600))
            .expect("mtime");
        let fresh = check_stage(&stage);
        let _ = std::fs::remove_dir_all(&stage);
        fresh.expect("fresh");
    }

    #[test]
    fn a_binary_no_crate_builds_is_refused() {
        let stage = stage_with("not-an-oxha-binary", Duration::ZERO);
        let err = check_stage(&stage).expect_err("unknown");
        let _ = std::fs::remove_dir_all(&stage);
        assert!(err.contains("no workspace crate builds"), "{err}");
    }
}
