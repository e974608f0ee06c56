//! Renders an [`AgentMeta`] as OCF 1.1 XML, fence-agent XML or a roff man page.

use crate::meta::{AgentKind, AgentMeta, Param, ParamType, PROVIDER, VENDOR_URL};
use quick_xml::escape::escape;
use std::fmt::Write;

fn ocf_type(kind: ParamType) -> &'static str {
    match kind {
        ParamType::Boolean => "boolean",
        ParamType::Integer => "integer",
        // OCF 1.1 has no time type; the value syntax is explained in the description.
        ParamType::String | ParamType::Duration => "string",
        ParamType::Select(_) => "select",
    }
}

fn fence_type(kind: ParamType) -> &'static str {
    match kind {
        ParamType::Boolean => "boolean",
        ParamType::Integer => "integer",
        ParamType::String => "string",
        ParamType::Duration => "second",
        ParamType::Select(_) => "select",
    }
}

fn bit(b: bool) -> u8 {
    u8::from(b)
}

fn longdesc_or_short(p: &Param) -> &'static str {
    if p.longdesc.is_empty() {
        p.shortdesc
    } else {
        p.longdesc
    }
}

fn content(out: &mut String, kind: ParamType, type_name: &str, default: Option<&str>) {
    let default = default
        .map(|d| format!(" default=\"{}\"", escape(d)))
        .unwrap_or_default();
    match kind {
        ParamType::Select(options) => {
            let _ = writeln!(out, "<content type=\"{type_name}\"{default}>");
            for o in options {
                let _ = writeln!(out, "<option value=\"{}\" />", escape(*o));
            }
            out.push_str("</content>\n");
        }
        _ => {
            let _ = writeln!(out, "<content type=\"{type_name}\"{default} />");
        }
    }
}

/// OCF 1.1 metadata, valid against OCF-spec `ra/1.1/ra-api.rng` and pcs' `ocf-1.1.rng`.
pub fn ocf_xml(meta: &AgentMeta) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\"?>\n");
    let _ = writeln!(
        out,
        "<resource-agent name=\"{}\" version=\"{}\">",
        escape(meta.name),
        escape(meta.version)
    );
    out.push_str("<version>1.1</version>\n");
    let _ = writeln!(
        out,
        "<longdesc lang=\"en\">\n{}\n</longdesc>",
        escape(meta.longdesc.trim())
    );
    let _ = writeln!(
        out,
        "<shortdesc lang=\"en\">{}</shortdesc>",
        escape(meta.shortdesc)
    );
    out.push_str("<parameters>\n");
    for p in meta.all_params() {
        let mut attrs = format!("name=\"{}\" required=\"{}\"", p.name, bit(p.required));
        if let Some(group) = p.unique_group {
            let _ = write!(attrs, " unique-group=\"{}\"", escape(group));
        }
        if p.reloadable {
            attrs.push_str(" reloadable=\"1\"");
        }
        let _ = writeln!(out, "<parameter {attrs}>");
        if let Some(replacement) = p.deprecated_for {
            let _ = writeln!(
                out,
                "<deprecated><replaced-with name=\"{}\" /></deprecated>",
                escape(replacement)
            );
        }
        let _ = writeln!(
            out,
            "<longdesc lang=\"en\">\n{}\n</longdesc>",
            escape(longdesc_or_short(p).trim())
        );
        let _ = writeln!(
            out,
            "<shortdesc lang=\"en\">{}</shortdesc>",
            escape(p.shortdesc)
        );
        content(&mut out, p.kind, ocf_type(p.kind), p.default);
        out.push_str("</parameter>\n");
    }
    out.push_str("</parameters>\n<actions>\n");
    for a in meta.actions {
        let mut attrs = format!("name=\"{}\" timeout=\"{}s\"", escape(a.name), a.timeout);
        if let Some(i) = a.interval {
            let _ = write!(attrs, " interval=\"{i}s\"");
        }
        if let Some(d) = a.depth {
            let _ = write!(attrs, " depth=\"{d}\"");
        }
        if let Some(r) = a.role {
            let _ = write!(attrs, " role=\"{}\"", escape(r));
        }
        if let Some(s) = a.start_delay {
            let _ = write!(attrs, " start-delay=\"{s}s\"");
        }
        let _ = writeln!(out, "<action {attrs} />");
    }
    out.push_str("</actions>\n</resource-agent>\n");
    out
}

fn getopt_mixed(p: &Param, name: &str) -> String {
    let long = name.replace('_', "-");
    let value = p
        .getopt
        .value_name
        .map(|v| format!("=[{v}]"))
        .unwrap_or_default();
    match p.getopt.short {
        Some(c) => format!("-{c}, --{long}{value}"),
        None => format!("--{long}{value}"),
    }
}

/// Fence-agent metadata, valid against fence-agents' `lib/metadata.rng`. Renamed options are
/// listed twice, like fencing.py: the current name with `obsoletes`, the old one deprecated,
/// so Pacemaker finds `port` and passes the target under that name.
pub fn fence_xml(meta: &AgentMeta) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" ?>\n");
    let _ = writeln!(
        out,
        "<resource-agent name=\"{}\" shortdesc=\"{}\" >",
        escape(meta.name),
        escape(meta.shortdesc)
    );
    let _ = writeln!(out, "<longdesc>{}</longdesc>", escape(meta.longdesc.trim()));
    let _ = writeln!(out, "<vendor-url>{VENDOR_URL}</vendor-url>");
    out.push_str("<parameters>\n");
    for p in meta.all_params() {
        let mut entries = vec![(p.name, false, p.aliases.first().copied())];
        for alias in p.aliases {
            entries.push((alias, true, None));
        }
        for (name, deprecated, obsoletes) in entries {
            let mut attrs = format!(
                "name=\"{}\" unique=\"0\" required=\"{}\"",
                escape(name),
                bit(p.required && !deprecated)
            );
            if deprecated {
                attrs.push_str(" deprecated=\"1\"");
            }
            if let Some(old) = obsoletes {
                let _ = write!(attrs, " obsoletes=\"{}\"", escape(old));
            }
            let _ = writeln!(out, "\t<parameter {attrs}>");
            let _ = writeln!(
                out,
                "\t\t<getopt mixed=\"{}\" />",
                escape(getopt_mixed(p, name))
            );
            out.push_str("\t\t");
            content(&mut out, p.kind, fence_type(p.kind), p.default);
            let _ = writeln!(
                out,
                "\t\t<shortdesc lang=\"en\">{}</shortdesc>",
                escape(p.shortdesc)
            );
            out.push_str("\t</parameter>\n");
        }
    }
    out.push_str("</parameters>\n<actions>\n");
    for a in meta.actions {
        let mut attrs = format!("name=\"{}\"", escape(a.name));
        if let Some(on_target) = a.on_target {
            let _ = write!(attrs, " on_target=\"{}\"", bit(on_target));
        }
        if let Some(automatic) = a.automatic {
            let _ = write!(attrs, " automatic=\"{}\"", bit(automatic));
        }
        let _ = writeln!(out, "\t<action {attrs} />");
    }
    out.push_str("</actions>\n</resource-agent>\n");
    out
}

/// Escapes text for roff: backslashes, and lines that would start with a control character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paragraphs separated by blank lines; lines indented by two spaces are set verbatim.
fn roff_paragraphs(out: &mut String, text: &str) {
    for para in text.trim().split("\n\n") {
        if para.lines().all(|l| l.starts_with("  ")) {
            out.push_str(".PP\n.nf\n.RS 4\n");
            for l in para.lines() {
                out.push_str(&roff(&l[2..]));
                out.push('\n');
            }
            out.push_str(".RE\n.fi\n");
        } else {
            out.push_str(".PP\n");
            out.push_str(&roff(para.trim()));
            out.push('\n');
        }
    }
}

fn describe_type(p: &Param) -> String {
    match p.kind {
        ParamType::Boolean => "boolean".into(),
        ParamType::String => "string".into(),
        ParamType::Integer => "integer".into(),
        ParamType::Duration => "duration".into(),
        ParamType::Select(o) => o.join("|"),
    }
}

/// What the man page says about every secret parameter of a fence agent.
const SECRET_FENCE_NOTE: &str = "A secret: never logged. On the command line it is accepted with a warning, because every user of the host can read a command line (ps); give it on standard input (key=value lines, as the fencer does), or use the agent's file or password_script option.";
/// The same for a resource agent.
const SECRET_OCF_NOTE: &str =
    "A secret: never logged and never shown in an error. Keep it out of the CIB with cibsecret.";
/// The same for a resource agent that also has `password_script`.
const SECRET_OCF_SCRIPT_NOTE: &str = "A secret: never logged and never shown in an error. Keep it out of the CIB: with password_script, or with cibsecret on cluster nodes (cibsecret's file does not reach a pacemaker-remote node by itself; see password_script).";

/// The man page: section 7 for resource agents (`ocf_oxha_vip.7`), 8 for fence agents.
pub fn man_page(meta: &AgentMeta) -> String {
    let (section, full_name) = match meta.kind {
        AgentKind::Resource => ("7", format!("ocf:{PROVIDER}:{}", meta.name)),
        AgentKind::Fence | AgentKind::Tool => ("8", meta.name.to_string()),
    };
    let title = meta.man_file();
    let title = title.rsplit_once('.').map(|(t, _)| t).unwrap_or(&title);
    let mut out = String::new();
    let _ = writeln!(
        out,
        ".\\\" Generated from the agent's metadata by ocf-lib; do not edit.\n.TH {} {} \"\" \"oxha {}\" \"oxha agents\"",
        roff(&title.to_uppercase()),
        section,
        meta.version
    );
    let _ = writeln!(
        out,
        ".SH NAME\n{} \\- {}",
        roff(&full_name),
        roff(meta.shortdesc)
    );
    out.push_str(".SH SYNOPSIS\n");
    match meta.kind {
        AgentKind::Resource => {
            let actions: Vec<&str> = meta.actions.iter().map(|a| a.name).collect();
            let _ = writeln!(
                out,
                ".B OCF_RESKEY_\\fIparameter\\fB=\\fIvalue\\fB ... {}\n[{}]",
                roff(meta.name),
                roff(&actions.join(" | "))
            );
        }
        AgentKind::Fence => {
            let _ = writeln!(
                out,
                ".B {}\n[\\fIOPTION\\fR]...\n.br\n.B {}\n< \\fIkey=value lines on standard input\\fR",
                roff(meta.name),
                roff(meta.name)
            );
        }
        AgentKind::Tool => {
            let verbs: Vec<&str> = meta.actions.iter().map(|a| a.name).collect();
            let _ = writeln!(
                out,
                ".B {}
[\\fIOPTION\\fR]... [{}]",
                roff(meta.name),
                roff(&verbs.join(" | "))
            );
        }
    }
    out.push_str(".SH DESCRIPTION\n");
    roff_paragraphs(&mut out, meta.longdesc);
    out.push_str(match meta.kind {
        AgentKind::Tool => ".SH OPTIONS\n",
        _ => ".SH PARAMETERS\n",
    });
    for p in meta.all_params() {
        let head = match meta.kind {
            AgentKind::Fence => format!(
                "\\fB{}\\fR, {}",
                roff(p.name),
                roff(&getopt_mixed(p, p.name))
            ),
            AgentKind::Resource => format!("\\fB{}\\fR", roff(p.name)),
            AgentKind::Tool => format!("\\fB\\-\\-{}\\fR", roff(&p.long_option())),
        };
        let mut notes = vec![describe_type(p)];
        if p.required {
            notes.push("required".into());
        }
        if let Some(d) = p.default {
            notes.push(format!("default: {d}"));
        }
        if p.reloadable {
            notes.push("reloadable".into());
        }
        if let Some(g) = p.unique_group {
            notes.push(format!("unique group: {g}"));
        }
        if !p.aliases.is_empty() {
            notes.push(format!("also: {}", p.aliases.join(", ")));
        }
        if let Some(r) = p.deprecated_for {
            notes.push(format!("deprecated, use {r}"));
        }
        let _ = writeln!(out, ".TP\n{head} ({})", roff(&notes.join("; ")));
        out.push_str(&roff(longdesc_or_short(p).trim()));
        if p.secret {
            out.push(' ');
            out.push_str(&roff(match meta.kind {
                AgentKind::Fence => SECRET_FENCE_NOTE,
                AgentKind::Resource if meta.param("password_script").is_some() => {
                    SECRET_OCF_SCRIPT_NOTE
                }
                AgentKind::Resource => SECRET_OCF_NOTE,
                AgentKind::Tool => "",
            }));
        }
        out.push('\n');
    }
    // A tool describes its verbs in a section of its own.
    let actions: &[crate::meta::ActionMeta] = match meta.kind {
        AgentKind::Tool => &[],
        _ => meta.actions,
    };
    if !actions.is_empty() {
        out.push_str(".SH ACTIONS\n");
    }
    for a in actions {
        let mut notes = Vec::new();
        if meta.kind == AgentKind::Resource {
            notes.push(format!("timeout {}s", a.timeout));
            if let Some(i) = a.interval {
                notes.push(format!("interval {i}s"));
            }
            if let Some(d) = a.depth {
                notes.push(format!("depth {d}"));
            }
        }
        if notes.is_empty() {
            let _ = writeln!(out, ".TP\n\\fB{}\\fR", roff(a.name));
        } else {
            let _ = writeln!(
                out,
                ".TP\n\\fB{}\\fR ({})",
                roff(a.name),
                roff(&notes.join(", "))
            );
        }
        out.push_str(".br\n");
    }
    for s in meta.man_sections {
        let _ = writeln!(out, ".SH {}", roff(&s.title.to_uppercase()));
        roff_paragraphs(&mut out, s.body);
    }
    out.push_str(".SH EXIT STATUS\n");
    match meta.kind {
        AgentKind::Resource => out.push_str(
            ".PP\nOCF exit codes: 0 success (monitor: running), 1 generic error, 2 invalid arguments on this node, \
3 unimplemented action, 4 insufficient privileges, 5 not installed, 6 not configured (invalid parameters), \
7 not running, 190 degraded. A failure also writes one \\fBocf\\-exit\\-reason:\\fR line to standard error.\n",
        ),
        AgentKind::Fence => out.push_str(
            ".PP\n0 success (status: on), 1 failure or device unreachable, 2 status: off.\n",
        ),
        // A tool says what its codes mean in its own sections.
        AgentKind::Tool => out.push_str(".PP\nSee EXIT CODES above.\n"),
    }
    out.push_str(".SH SEE ALSO\n");
    match meta.kind {
        AgentKind::Resource => {
            out.push_str(".BR crm (8), pcs (8), crm_resource (8), ocf-tester (8)\n")
        }
        AgentKind::Fence => {
            out.push_str(".BR stonith_admin (8), pcs (8), fence_maas (8), fence_masakari (8)\n")
        }
        AgentKind::Tool => out.push_str(
            ".BR cibadmin (8), crm (8), fence_maas (8), fence_masakari (8), ocf_oxha_masakari-restart (7)\n",
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{ActionMeta, ManSection};
    use std::io::Write;
    use std::process::{Command, Stdio};

    static PARAMS: &[Param] = &[
        Param::string("ip", "Address <with> \"markup\" & such")
            .required()
            .unique_group("addr"),
        Param::integer("count", "Count").default("3").reloadable(),
        Param::boolean("flag", "Flag").default("false"),
        Param::duration("wait", "Wait").default("5s"),
        Param::select("mode", &["hard", "soft"], "Mode").default("hard"),
        Param::string("old_ip", "Old name").deprecated_for("ip"),
        Param::string("secret", "A secret")
            .secret()
            .aliases(&["passwd"]),
    ];
    static ACTIONS: &[ActionMeta] = &[
        ActionMeta::new("start", 20),
        ActionMeta::new("stop", 20),
        ActionMeta::new("monitor", 20).interval(10).depth(0),
        ActionMeta::new("monitor", 30).interval(60).depth(10),
        ActionMeta::new("reload-agent", 20),
        ActionMeta::new("meta-data", 5),
        ActionMeta::new("validate-all", 20),
        ActionMeta::new("on", 20).automatic(false),
    ];
    static SECTIONS: &[ManSection] = &[ManSection {
        title: "Example",
        body: "Configure it:\n\n  crm configure primitive x ocf:oxha:x \\\n    params ip=1.2.3.4\n\n.A line that starts with a dot.",
    }];
    static OCF: AgentMeta = AgentMeta {
        name: "x",
        kind: AgentKind::Resource,
        version: "1.0",
        shortdesc: "Short & sweet",
        longdesc: "Long\n\nwith paragraphs",
        params: PARAMS,
        param_groups: &[],
        actions: ACTIONS,
        man_sections: SECTIONS,
    };
    static FENCE: AgentMeta = AgentMeta {
        name: "fence_x",
        kind: AgentKind::Fence,
        param_groups: &[crate::fence::STANDARD_OPTIONS],
        ..OCF
    };

    fn xmllint(schema: &str, xml: &str) -> Result<(), String> {
        let mut child = Command::new("xmllint")
            .args(["--noout", "--relaxng", schema, "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("xmllint (libxml2-utils) is needed for this test: {e}"))?;
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(xml.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{}\n{xml}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    #[test]
    fn ocf_xml_validates_against_the_schema_pcs_uses() {
        xmllint("/usr/share/pcs/data/ocf-1.1.rng", &ocf_xml(&OCF))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// OCF-spec's own `ra/1.1/ra-api.rng` (kept as test data in tests/harness/schemas). A
    /// missing schema fails the test.
    #[test]
    fn ocf_xml_validates_against_ocf_spec_schema() {
        let schema = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/harness/schemas/ra-api-1.1.rng"
        );
        assert!(
            std::path::Path::new(schema).is_file(),
            "OCF-spec schema {schema} is missing"
        );
        xmllint(schema, &ocf_xml(&OCF)).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn fence_xml_validates_against_fence_agents_schema() {
        let xml = fence_xml(&FENCE);
        xmllint("/usr/share/cluster/relaxng/metadata.rng", &xml).unwrap_or_else(|e| panic!("{e}"));
        // Renamed options are listed under both names, the old one deprecated.
        assert!(xml
            .contains("<parameter name=\"plug\" unique=\"0\" required=\"0\" obsoletes=\"port\">"));
        assert!(
            xml.contains("<parameter name=\"port\" unique=\"0\" required=\"0\" deprecated=\"1\">")
        );
        assert!(xml.contains("<getopt mixed=\"-n, --plug=[id]\" />"));
        assert!(xml.contains("<content type=\"second\" default=\"5s\" />"));
        assert!(xml.contains("<action name=\"on\" automatic=\"0\" />"));
    }

    #[test]
    fn ocf_xml_carries_the_1_1_features() {
        let xml = ocf_xml(&OCF);
        assert!(xml.contains("<version>1.1</version>"));
        assert!(xml.contains("unique-group=\"addr\""));
        assert!(xml.contains("<parameter name=\"count\" required=\"0\" reloadable=\"1\">"));
        assert!(xml.contains("<deprecated><replaced-with name=\"ip\" /></deprecated>"));
        assert!(xml.contains("<option value=\"soft\" />"));
        assert!(xml.contains("Address &lt;with&gt; &quot;markup&quot; &amp; such"));
        assert!(xml
            .contains("<action name=\"monitor\" timeout=\"30s\" interval=\"60s\" depth=\"10\" />"));
        assert!(
            !xml.contains("private"),
            "pcs rejects the private attribute"
        );
    }

    #[test]
    fn man_page_is_well_formed_roff() {
        let man = man_page(&OCF);
        assert!(man.starts_with(".\\\" Generated"));
        assert!(man.contains(".TH OCF_OXHA_X 7"));
        assert!(man.contains(".SH NAME\nocf:oxha:x \\- Short & sweet"));
        assert!(
            man.contains("\\&.A line that starts with a dot."),
            "control characters escaped"
        );
        assert!(
            man.contains(".nf\n.RS 4\ncrm configure primitive x ocf:oxha:x \\e"),
            "verbatim blocks"
        );
        assert_eq!(
            man_page(&FENCE)
                .lines()
                .nth(1)
                .map(|l| l.starts_with(".TH FENCE_X 8")),
            Some(true)
        );
        // Every line that starts with a dot is a known request.
        for line in man.lines().filter(|l| l.starts_with('.')) {
            let request = line.split_whitespace().next().unwrap_or_default();
            assert!(
                [
                    ".\\\"", ".TH", ".SH", ".PP", ".TP", ".B", ".BR", ".br", ".nf", ".fi", ".RS",
                    ".RE"
                ]
                .contains(&request),
                "unexpected roff request: {line}"
            );
        }
    }
}
