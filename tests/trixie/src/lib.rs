//! The Debian 13 (trixie) compatibility suite: one single-node cluster (`oxha-harness`) whose
//! node runs on a debootstrap trixie root — Pacemaker 3.0, corosync 3.1, pcs 0.12, crmsh 5,
//! Masakari 19 — with the oxha package (`make deb`) installed in it by dpkg -i, as a user
//! installs it. The tests (`tests/debian13.rs`) drive it with the same tools as the Debian 12
//! suites.

use oxha_harness::{deb_package, run, workspace_root, Cluster, NodeSetup};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

/// The cached trixie root tree (`scripts/trixie-root` builds it with debootstrap on first use,
/// keyed by `root-packages`).
pub fn trixie_root() -> PathBuf {
    let script = workspace_root().join("tests/trixie/scripts/trixie-root");
    let started = Instant::now();
    let r = run(&[&script.to_string_lossy()]);
    assert!(r.ok(), "no trixie root tree: {r}");
    eprintln!(
        "trixie: root tree ready after {:.1}s{}",
        started.elapsed().as_secs_f64(),
        if r.stderr.contains("debootstrap") {
            " (debootstrap, first run)"
        } else {
            " (cached)"
        }
    );
    PathBuf::from(r.stdout.trim())
}

/// The suite's one node: `node1` on the trixie root, the package installed.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let deb = deb_package();
        assert!(deb.exists(), "{} missing: run `make deb`", deb.display());
        let root = trixie_root();
        Cluster::start_with(
            "node1",
            &NodeSetup {
                root: Some(root),
                deb: Some(deb),
            },
        )
    })
}
