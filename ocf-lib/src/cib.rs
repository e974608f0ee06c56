//! The parts of the live CIB an agent may need: the stonith devices, the fencing topology and
//! the nodes' permanent attributes, read with `cibadmin --query --scope configuration`
//! (through [`crate::child`]) and parsed once, here.
//!
//! Only what the fencer itself uses is kept: a device's class, type and first-level instance
//! attributes (rules are not evaluated), a fencing level's index, target and device list.

use crate::child::Child;
use crate::deadline::Deadline;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::BTreeMap;
use std::time::Duration;

/// A `stonith`-class primitive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StonithDevice {
    pub id: String,
    /// The fence agent (`fence_maas`), from the primitive or its template.
    pub agent: String,
    /// First-level `instance_attributes` (`pcmk_host_list`, the agent's options).
    pub params: BTreeMap<String, String>,
    /// First-level `meta_attributes` (`target-role`).
    pub meta: BTreeMap<String, String>,
}

/// Which nodes a fencing level applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LevelTarget {
    /// `target`: one node, by name (the fencer compares names without case).
    Name(String),
    /// `target-pattern`: node names matching a POSIX extended regular expression.
    Pattern(String),
    /// `target-attribute` / `target-value`: nodes with that permanent node attribute.
    Attribute { name: String, value: String },
}

/// A `fencing-level`: the devices the fencer runs, in order, all of which must succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FencingLevel {
    pub id: String,
    pub index: u32,
    pub target: LevelTarget,
    pub devices: Vec<String>,
}

/// A node of the `nodes` section with its permanent attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub uname: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cib {
    pub stonith: Vec<StonithDevice>,
    pub levels: Vec<FencingLevel>,
    pub nodes: Vec<Node>,
    /// Pacemaker remote nodes: the ids of `ocf:pacemaker:remote` primitives (the node name).
    pub remote_nodes: Vec<String>,
    /// From the `status` section when it was read ([`query_full`]): each node's `uname` and
    /// whether it is a member now (a full node in the membership with its controller up, a
    /// remote node whose connection is up).
    pub online: BTreeMap<String, bool>,
}

impl Cib {
    pub fn device(&self, id: &str) -> Option<&StonithDevice> {
        self.stonith.iter().find(|d| d.id == id)
    }

    pub fn node(&self, uname: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.uname.eq_ignore_ascii_case(uname))
    }
}

/// Reads the CIB configuration of the cluster this node is part of. An error when there is
/// none (the agent is run by hand outside a cluster) or it cannot be read in time.
pub fn query(deadline: &Deadline) -> Result<Cib, String> {
    let text = cibadmin_query(&["--query", "--scope", "configuration"], deadline)?;
    parse(&text)
}

/// Reads the whole CIB, `status` included ([`Cib::online`]), for a tool that reports on the
/// cluster (oxha-check). Agents read the configuration only ([`query`]).
pub fn query_full(deadline: &Deadline) -> Result<(Cib, String), String> {
    let text = cibadmin_query(&["--query"], deadline)?;
    let cib = parse(&text)?;
    Ok((cib, text))
}

/// `cibadmin ARGS`' XML, within `deadline` and at most 10 s; its first complaint otherwise.
fn cibadmin_query(args: &[&str], deadline: &Deadline) -> Result<String, String> {
    let out = Child::new("cibadmin")
        .args(args.iter().copied())
        .run(&deadline.min(Deadline::after(Duration::from_secs(10))))
        .map_err(|e| format!("cannot read the CIB: {e}"))?;
    if !out.status.success() {
        let why = out
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message")
            .trim()
            .to_string();
        return Err(format!(
            "cannot read the CIB (cibadmin --query: {}): {why}",
            out.status
        ));
    }
    Ok(out.stdout)
}

/// Where cibsecret keeps a secret instance attribute whose CIB value is `lrm://`: the file
/// pacemaker-execd reads it from on each node.
pub const CIBSECRET_DIR: &str = "/var/lib/pacemaker/lrm/secrets";

/// The value of instance attribute `name` of resource `rsc` as its agent receives it: a
/// `lrm://` reference (cibsecret) is read from [`CIBSECRET_DIR`]`/<rsc>/<name>`, as
/// pacemaker-execd does; any other value is itself.
pub fn resolve_cibsecret(rsc: &str, name: &str, value: &str) -> Result<String, String> {
    if value.trim() != "lrm://" {
        return Ok(value.to_string());
    }
    resolve_cibsecret_in(std::path::Path::new(CIBSECRET_DIR), rsc, name)
}

fn resolve_cibsecret_in(dir: &std::path::Path, rsc: &str, name: &str) -> Result<String, String> {
    let bad = |s: &str| s.is_empty() || s.contains('/') || s == "." || s == "..";
    if bad(rsc) || bad(name) {
        return Err(format!("{rsc} {name}: not a cibsecret reference"));
    }
    let path = dir.join(rsc).join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{rsc} {name}=lrm:// (cibsecret): {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// A `node_state` membership attribute: `true`/`member`/`online`, or (Pacemaker 2.1.7 on) a
/// non-zero epoch number.
fn member(value: Option<&str>) -> bool {
    match value.map(str::trim) {
        Some("true" | "member" | "online") => true,
        Some(v) => v.parse::<u64>().is_ok_and(|n| n > 0),
        None => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Instance,
    Meta,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        if a.key.as_ref() == name.as_bytes() {
            let v = a
                .unescape_value()
                .map_err(|err| format!("bad attribute value: {err}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Parses CIB XML (a whole `<cib>` or its `<configuration>`).
pub fn parse(xml: &str) -> Result<Cib, String> {
    let mut reader = Reader::from_str(xml);
    let mut cib = Cib::default();
    let mut templates: BTreeMap<String, (String, String)> = BTreeMap::new();
    // Primitives naming a template, resolved at the end: (index in stonith, template id).
    let mut pending_templates: Vec<(usize, String)> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    // The device or node whose attributes are being read, and in which set.
    let mut device: Option<usize> = None;
    let mut node: Option<usize> = None;
    let mut section = Section::None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("CIB XML at byte {}: {e}", reader.buffer_position()))?;
        let (e, empty) = match &event {
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::End(_) => {
                if let Some(name) = path.pop() {
                    match name.as_str() {
                        "primitive" => device = None,
                        "node" if path.last().map(String::as_str) == Some("nodes") => node = None,
                        "instance_attributes" | "meta_attributes" => section = Section::None,
                        _ => {}
                    }
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let parent = path.last().map(String::as_str).unwrap_or("");
        let in_config = path.iter().any(|p| p == "configuration") || path.is_empty();
        match name.as_str() {
            "primitive" if in_config && path.iter().any(|p| p == "resources") => {
                let class = attr(&e, "class")?.unwrap_or_default();
                if class == "ocf"
                    && attr(&e, "provider")?.as_deref() == Some("pacemaker")
                    && attr(&e, "type")?.as_deref() == Some("remote")
                {
                    cib.remote_nodes.push(attr(&e, "id")?.unwrap_or_default());
                }
                let template = attr(&e, "template")?;
                if class == "stonith" || (class.is_empty() && template.is_some()) {
                    cib.stonith.push(StonithDevice {
                        id: attr(&e, "id")?.unwrap_or_default(),
                        agent: attr(&e, "type")?.unwrap_or_default(),
                        ..StonithDevice::default()
                    });
                    let at = cib.stonith.len() - 1;
                    if let Some(t) = template {
                        pending_templates.push((at, t));
                    }
                    device = (!empty).then_some(at);
                }
            }
            "template" if path.iter().any(|p| p == "resources") => {
                if let (Some(id), Some(class), Some(kind)) =
                    (attr(&e, "id")?, attr(&e, "class")?, attr(&e, "type")?)
                {
                    templates.insert(id, (class, kind));
                }
            }
            "instance_attributes" if parent == "primitive" || parent == "node" => {
                section = Section::Instance;
            }
            "meta_attributes" if parent == "primitive" => section = Section::Meta,
            "nvpair" if section != Section::None => {
                let key = attr(&e, "name")?;
                let value = attr(&e, "value")?.unwrap_or_default();
                if let Some(key) = key {
                    let grand = path.get(path.len().wrapping_sub(2)).map(String::as_str);
                    match (grand, device, node, section) {
                        (Some("primitive"), Some(d), _, Section::Instance) => {
                            cib.stonith[d].params.insert(key, value);
                        }
                        (Some("primitive"), Some(d), _, Section::Meta) => {
                            cib.stonith[d].meta.insert(key, value);
                        }
                        (Some("node"), _, Some(n), Section::Instance) => {
                            cib.nodes[n].attributes.insert(key, value);
                        }
                        _ => {}
                    }
                }
            }
            "fencing-level" => {
                let target = match (
                    attr(&e, "target")?,
                    attr(&e, "target-pattern")?,
                    attr(&e, "target-attribute")?,
                ) {
                    (Some(t), _, _) => LevelTarget::Name(t),
                    (None, Some(p), _) => LevelTarget::Pattern(p),
                    (None, None, Some(a)) => LevelTarget::Attribute {
                        name: a,
                        value: attr(&e, "target-value")?.unwrap_or_default(),
                    },
                    (None, None, None) => {
                        return Err(format!(
                            "fencing-level '{}' has no target",
                            attr(&e, "id")?.unwrap_or_default()
                        ))
                    }
                };
                let index = attr(&e, "index")?.unwrap_or_default();
                cib.levels.push(FencingLevel {
                    id: attr(&e, "id")?.unwrap_or_default(),
                    index: index
                        .trim()
                        .parse()
                        .map_err(|_| format!("fencing-level index '{index}' is not a number"))?,
                    target,
                    devices: attr(&e, "devices")?
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .map(str::to_string)
                        .collect(),
                });
            }
            "node_state" if parent == "status" => {
                let uname = attr(&e, "uname")?.unwrap_or_default();
                let remote = attr(&e, "remote_node")?.as_deref() == Some("true");
                let in_ccm = member(attr(&e, "in_ccm")?.as_deref());
                let controller = member(attr(&e, "crmd")?.as_deref());
                cib.online.insert(uname, in_ccm && (remote || controller));
            }
            "node" if parent == "nodes" => {
                cib.nodes.push(Node {
                    uname: attr(&e, "uname")?.unwrap_or_default(),
                    attributes: BTreeMap::new(),
                });
                node = (!empty).then_some(cib.nodes.len() - 1);
            }
            _ => {}
        }
        if !empty {
            path.push(name);
        }
    }
    for (at, template) in pending_templates {
        if let Some((class, kind)) = templates.get(&template) {
            if class == "stonith" && cib.stonith[at].agent.is_empty() {
                cib.stonith[at].agent = kind.clone();
            }
        }
    }
    // A primitive with an unknown or non-stonith template is no fence device.
    cib.stonith.retain(|d| !d.agent.is_empty());
    cib.levels.sort_by_key(|l| l.index);
    Ok(cib)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIB: &str = r#"<cib epoch="5"><configuration>
  <crm_config/>
  <nodes>
    <node id="1" uname="node1"><instance_attributes id="n1"><nvpair id="n1-a" name="rack" value="r1"/></instance_attributes></node>
    <node id="2" uname="compute-1"/>
  </nodes>
  <resources>
    <template id="maas-tpl" class="stonith" type="fence_maas"/>
    <primitive id="maas" class="stonith" type="fence_maas">
      <instance_attributes id="maas-ia">
        <nvpair id="maas-ia-1" name="pcmk_host_list" value="compute-1 compute-2"/>
        <nvpair id="maas-ia-2" name="api_key_file" value="/k &amp; l"/>
      </instance_attributes>
      <meta_attributes id="maas-ma"><nvpair id="maas-ma-1" name="target-role" value="Stopped"/></meta_attributes>
      <operations><op id="maas-op" name="monitor" interval="60s"><instance_attributes id="op-ia"><nvpair id="x" name="OCF_CHECK_LEVEL" value="10"/></instance_attributes></op></operations>
    </primitive>
    <primitive id="maas2" template="maas-tpl"/>
    <primitive id="vip" class="ocf" provider="oxha" type="vip"/>
    <clone id="cl"><primitive id="masakari" class="stonith" type="fence_masakari"/></clone>
  </resources>
  <constraints/>
  <fencing-topology>
    <fencing-level id="l2" index="2" target="compute-1" devices="masakari"/>
    <fencing-level id="l1" index="1" target="compute-1" devices="maas,masakari"/>
    <fencing-level id="lp" index="1" target-pattern="^compute-[0-9]+$" devices="maas2"/>
    <fencing-level id="la" index="1" target-attribute="rack" target-value="r1" devices="maas"/>
  </fencing-topology>
</configuration><status><node_state id="1" uname="node1"/></status></cib>"#;

    #[test]
    fn devices_levels_and_nodes() {
        let cib = parse(CIB).expect("parses");
        let ids: Vec<(&str, &str)> = cib
            .stonith
            .iter()
            .map(|d| (d.id.as_str(), d.agent.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("maas", "fence_maas"),
                ("maas2", "fence_maas"),
                ("masakari", "fence_masakari")
            ]
        );
        let maas = cib.device("maas").expect("maas");
        assert_eq!(maas.params["pcmk_host_list"], "compute-1 compute-2");
        assert_eq!(maas.params["api_key_file"], "/k & l");
        assert!(
            !maas.params.contains_key("OCF_CHECK_LEVEL"),
            "op attributes"
        );
        assert_eq!(maas.meta["target-role"], "Stopped");
        let levels: Vec<(&str, u32)> = cib
            .levels
            .iter()
            .map(|l| (l.id.as_str(), l.index))
            .collect();
        assert_eq!(levels[0].1, 1);
        assert!(levels.contains(&("l2", 2)));
        let l1 = cib.levels.iter().find(|l| l.id == "l1").expect("l1");
        assert_eq!(l1.devices, ["maas", "masakari"]);
        assert_eq!(l1.target, LevelTarget::Name("compute-1".into()));
        let la = cib.levels.iter().find(|l| l.id == "la").expect("la");
        assert_eq!(
            la.target,
            LevelTarget::Attribute {
                name: "rack".into(),
                value: "r1".into()
            }
        );
        assert_eq!(cib.node("NODE1").expect("node1").attributes["rack"], "r1");
        assert!(cib.node("compute-1").is_some());
    }

    #[test]
    fn remote_nodes_and_membership() {
        let cib = parse(
            r#"<cib><configuration><resources>
  <primitive id="virt-node-10" class="ocf" provider="pacemaker" type="remote"/>
  <primitive id="r2" class="ocf" provider="heartbeat" type="remote"/>
</resources></configuration><status>
  <node_state id="1" uname="node1" in_ccm="true" crmd="online"/>
  <node_state id="2" uname="node2" in_ccm="1700000000" crmd="0"/>
  <node_state id="virt-node-10" uname="virt-node-10" remote_node="true" in_ccm="true"/>
  <node_state id="virt-node-01" uname="virt-node-01" remote_node="true" in_ccm="false"/>
</status></cib>"#,
        )
        .expect("parses");
        assert_eq!(cib.remote_nodes, ["virt-node-10"]);
        assert_eq!(cib.online.get("node1"), Some(&true));
        assert_eq!(cib.online.get("node2"), Some(&false), "controller down");
        assert_eq!(cib.online.get("virt-node-10"), Some(&true));
        assert_eq!(cib.online.get("virt-node-01"), Some(&false));
    }

    #[test]
    fn cibsecret_references() {
        let dir = std::env::temp_dir().join(format!("oxha-cibsecret-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("st-maas")).expect("dir");
        std::fs::write(dir.join("st-maas/apikey"), "a:b:c\n").expect("write");
        assert_eq!(
            resolve_cibsecret("st-maas", "apikey", "x:y:z"),
            Ok("x:y:z".into())
        );
        assert_eq!(
            resolve_cibsecret_in(&dir, "st-maas", "apikey"),
            Ok("a:b:c".into())
        );
        assert!(resolve_cibsecret_in(&dir, "st-maas", "password").is_err());
        assert!(resolve_cibsecret_in(&dir, "..", "apikey").is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(parse("<cib><configuration><fencing-topology><fencing-level id=\"x\" index=\"1\" devices=\"a\"/>").is_err());
        assert!(
            parse("<fencing-level id=\"x\" index=\"one\" target=\"n\" devices=\"a\"/>").is_err()
        );
        assert!(parse("<a><b></a>").is_err());
        assert_eq!(parse("").expect("empty"), Cib::default());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(xml in "(?s).{0,600}") {
            let _ = parse(&xml);
        }

        #[test]
        fn levels_round_trip(
            levels in proptest::collection::vec(
                (1u32..10, "[a-z][a-z0-9-]{0,12}", proptest::collection::vec("[a-z][a-z0-9_-]{0,10}", 1..4)),
                0..6,
            )
        ) {
            let mut xml = String::from("<cib><configuration><fencing-topology>");
            for (i, (index, target, devices)) in levels.iter().enumerate() {
                xml.push_str(&format!(
                    "<fencing-level id=\"l{i}\" index=\"{index}\" target=\"{target}\" devices=\"{}\"/>",
                    devices.join(",")
                ));
            }
            xml.push_str("</fencing-topology></configuration></cib>");
            let cib = parse(&xml).expect("valid XML");
            proptest::prop_assert_eq!(cib.levels.len(), levels.len());
            for l in &cib.levels {
                let i: usize = l.id[1..].parse().expect("id");
                proptest::prop_assert_eq!(l.index, levels[i].0);
                proptest::prop_assert_eq!(&l.target, &LevelTarget::Name(levels[i].1.clone()));
                proptest::prop_assert_eq!(&l.devices, &levels[i].2);
            }
        }
    }
}
