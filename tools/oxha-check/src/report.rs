//! The findings as a table for the operator or one JSON document for monitoring, and the
//! exit code: 0 clean, 1 warnings only, 2 errors.

use crate::rules::{Finding, Severity, View, MAAS_AGENT, MASAKARI_AGENT};
use serde_json::json;

pub fn exit_code(findings: &[Finding]) -> i32 {
    match findings.iter().map(|f| f.severity).max() {
        None => 0,
        Some(Severity::Warning) => 1,
        Some(Severity::Error) => 2,
    }
}

/// What was read, in words: the table's last line, the JSON's `checked`.
pub fn checked(view: &View) -> Vec<String> {
    let cib = &view.cib;
    let mut out = vec![format!(
        "CIB ({} nodes, {} remote, {} fencing levels, {} fence devices)",
        cib.nodes.len(),
        cib.remote_nodes.len(),
        cib.levels.len(),
        cib.stonith.len()
    )];
    let maas: Vec<&str> = cib
        .stonith
        .iter()
        .filter(|d| d.agent == MAAS_AGENT)
        .map(|d| d.id.as_str())
        .collect();
    if maas.is_empty() {
        out.push("MAAS not checked (no fence_maas device)".into());
    } else {
        out.push(format!(
            "MAAS through {} ({} nodes)",
            maas.join(", "),
            view.maas.len()
        ));
    }
    match (&view.openstack, cib.stonith.iter().find(|d| d.agent == MASAKARI_AGENT)) {
        (Some(os), Some(d)) => out.push(format!(
            "nova ({} compute services, {} hypervisors) and Masakari ({} segments, {} recent COMPUTE_HOST notifications) with the parameters of {}",
            os.services.len(),
            os.hypervisors.len(),
            os.segments.len(),
            os.notifications.len(),
            d.id
        )),
        (None, Some(_)) => {}
        (_, None) => out.push("nova and Masakari not checked (no fence_masakari device)".into()),
    }
    out
}

fn width(findings: &[Finding], f: impl Fn(&Finding) -> usize, title: &str) -> usize {
    findings.iter().map(f).max().unwrap_or(0).max(title.len())
}

pub fn table(view: &View, findings: &[Finding]) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("no mismatch found\n");
    } else {
        let rw = width(findings, |f| f.rule.len(), "RULE");
        let sw = width(findings, |f| f.subject.len(), "SUBJECT");
        out.push_str(&format!(
            "{:<8} {:<rw$} {:<sw$} PROBLEM\n",
            "SEVERITY", "RULE", "SUBJECT"
        ));
        let mut sorted: Vec<&Finding> = findings.iter().collect();
        sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
        for f in sorted {
            out.push_str(&format!(
                "{:<8} {:<rw$} {:<sw$} {}\n{:<8} {:<rw$} {:<sw$} fix: {}\n",
                f.severity.word(),
                f.rule,
                f.subject,
                f.problem,
                "",
                "",
                "",
                f.fix
            ));
        }
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        out.push_str(&format!(
            "{errors} error(s), {} warning(s)\n",
            findings.len() - errors
        ));
    }
    out.push_str(&format!("checked: {}\n", checked(view).join("; ")));
    out
}

pub fn json(view: &View, findings: &[Finding]) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let doc = json!({
        "findings": findings,
        "errors": errors,
        "warnings": findings.len() - errors,
        "checked": checked(view),
    });
    format!("{doc}\n")
}
