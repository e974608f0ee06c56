//! The README and docs/ that the demo points newcomers to: every figure they quote from a
//! benchmark is in that benchmark's committed results file (bench/readme-figures), and every
//! relative link leads to a file and a heading that exist.

use oxha_harness::run;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn quoted_figures_match_the_results_files() {
    let script = root().join("bench/readme-figures");
    let out = run(&["bash", &script.to_string_lossy()]);
    assert!(out.ok(), "{out}");
    assert!(out.stdout.contains("figures match"), "{out}");
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

/// Relative link targets of a markdown text: `](target)`, without `http(s):` ones.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_string()))
        .filter(|t| !t.starts_with("http://") && !t.starts_with("https://"))
        .collect()
}

#[test]
fn relative_links_lead_somewhere() {
    let root = root();
    let mut checked = 0;
    for doc in ["README.md", "docs/developers.md", "docs/benchmarks.md"] {
        let path = root.join(doc);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for link in links(&text) {
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                path.clone()
            } else {
                dir.join(file)
            };
            let target_text = std::fs::read_to_string(&target)
                .unwrap_or_else(|e| panic!("{doc}: link {link}: {}: {e}", target.display()));
            if !fragment.is_empty() {
                assert!(
                    anchors(&target_text).iter().any(|a| a == fragment),
                    "{doc}: link {link}: no heading with anchor #{fragment} in {}",
                    target.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} links found: the parser lost them"
    );
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(anchor(" Pacemaker 3 (Debian 13)"), "pacemaker-3-debian-13");
    assert_eq!(
        anchor(" vip — virtual IP address (`ocf:oxha:vip`, replaces `ocf:heartbeat:IPaddr2`)"),
        "vip--virtual-ip-address-ocfoxhavip-replaces-ocfheartbeatipaddr2"
    );
    assert_eq!(anchor(" fence_maas"), "fence_maas");
}
