//! `crm_mon --output-as=xml`, parsed once (quick-xml) for every test that asks what Pacemaker
//! thinks: nodes, resources (with the nodes they are active on) and failed operations.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// A node of `<nodes>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeState {
    pub name: String,
    pub online: bool,
    pub unclean: bool,
    pub shutdown: bool,
    pub standby: bool,
    /// `member`, `remote`, ...
    pub kind: String,
}

/// A primitive resource (or one instance of a clone) of `<resources>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceState {
    pub id: String,
    pub role: String,
    pub active: bool,
    pub failed: bool,
    /// The nodes it is active on.
    pub nodes: Vec<String>,
}

/// A `<failure>`: its attributes in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failure {
    pub attributes: Vec<(String, String)>,
}

impl Failure {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `failure op_key="x_start_0" exitstatus="not installed" ...`: the element as one line.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure")?;
        for (k, v) in &self.attributes {
            write!(f, " {k}=\"{v}\"")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub nodes: Vec<NodeState>,
    pub resources: Vec<ResourceState>,
    pub failures: Vec<Failure>,
}

impl Status {
    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The first resource (or clone instance) with this id.
    pub fn resource(&self, id: &str) -> Option<&ResourceState> {
        self.resources.iter().find(|r| r.id == id)
    }

    /// Every instance of `id` (several for a clone).
    pub fn instances<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a ResourceState> + 'a {
        self.resources.iter().filter(move |r| r.id == id)
    }

    /// Failed operations of resource `id` (`op_key` `<id>_<op>_<interval>`).
    pub fn failures_of(&self, id: &str) -> Vec<&Failure> {
        let prefix = format!("{id}_");
        self.failures
            .iter()
            .filter(|f| f.get("op_key").is_some_and(|k| k.starts_with(&prefix)))
            .collect()
    }
}

fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("crm_mon XML: {err}"))?;
        let value = a
            .unescape_value()
            .map_err(|err| format!("crm_mon XML: {err}"))?;
        out.push((
            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(out)
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> &'a str {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Parses `crm_mon --output-as=xml`. An empty or truncated document (crm_mon could not
/// answer) is an error.
pub fn parse(xml: &str) -> Result<Status, String> {
    let mut reader = Reader::from_str(xml);
    let mut status = Status::default();
    let mut path: Vec<String> = Vec::new();
    let mut complete = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("crm_mon XML at byte {}: {e}", reader.buffer_position()))?;
        let (e, empty) = match &event {
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::End(_) => {
                path.pop();
                // The root element closed: the document is whole.
                complete |= path.is_empty();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let parent = path.last().map(String::as_str).unwrap_or("");
        let attrs = attributes(&e)?;
        let yes = |k: &str| attr(&attrs, k) == "true";
        match (name.as_str(), parent) {
            ("node", "nodes") => status.nodes.push(NodeState {
                name: attr(&attrs, "name").into(),
                online: yes("online"),
                unclean: yes("unclean"),
                shutdown: yes("shutdown"),
                standby: yes("standby"),
                kind: attr(&attrs, "type").into(),
            }),
            ("resource", _) if path.iter().any(|p| p == "resources") => {
                status.resources.push(ResourceState {
                    id: attr(&attrs, "id").into(),
                    role: attr(&attrs, "role").into(),
                    active: yes("active"),
                    failed: yes("failed"),
                    nodes: Vec::new(),
                })
            }
            ("node", "resource") if path.iter().any(|p| p == "resources") => {
                if let Some(r) = status.resources.last_mut() {
                    r.nodes.push(attr(&attrs, "name").into());
                }
            }
            ("failure", "failures") => status.failures.push(Failure { attributes: attrs }),
            _ => {}
        }
        if empty {
            complete |= path.is_empty();
        } else {
            path.push(name);
        }
    }
    if !complete {
        return Err("crm_mon gave no complete XML document".into());
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">
  <summary><stack type="corosync"/></summary>
  <nodes>
    <node name="node1" id="1" online="true" standby="false" unclean="false" shutdown="false" type="member"/>
    <node name="compute1" id="compute1" online="false" standby="false" unclean="true" shutdown="false" type="remote"/>
  </nodes>
  <resources>
    <resource id="vip" resource_agent="ocf:oxha:vip" role="Started" active="true" failed="false" nodes_running_on="1">
      <node name="node1" id="1" cached="true"/>
    </resource>
    <clone id="hap-clone" multi_state="false" unique="false">
      <resource id="hap" role="Started" active="true" failed="false"><node name="node1" id="1" cached="true"/></resource>
      <resource id="hap" role="Started" active="true" failed="false"><node name="node2" id="2" cached="true"/></resource>
      <resource id="hap" role="Stopped" active="false" failed="false"/>
    </clone>
  </resources>
  <node_history><node name="node1"><resource_history id="vip"/></node></node_history>
  <failures>
    <failure op_key="hap3_start_0" node="node1" exitstatus="not configured" exitreason="unknown keyword &apos;bogus_keyword&apos; (at crm-bad.cfg:2)" exitcode="6" call="12" status="complete"/>
  </failures>
  <status code="0" message="OK"/>
</pacemaker-result>"#;

    #[test]
    fn nodes_resources_failures() {
        let s = parse(XML).expect("parses");
        assert_eq!(s.nodes.len(), 2, "node_history is not a node list");
        let c = s.node("compute1").expect("compute1");
        assert!(!c.online && c.unclean && c.kind == "remote");
        let vip = s.resource("vip").expect("vip");
        assert_eq!(
            (vip.role.as_str(), vip.nodes.as_slice()),
            ("Started", &["node1".to_string()][..])
        );
        let on: Vec<&str> = s
            .instances("hap")
            .filter(|r| r.active)
            .flat_map(|r| r.nodes.iter().map(String::as_str))
            .collect();
        assert_eq!(on, ["node1", "node2"]);
        let f = s.failures_of("hap3");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].get("exitstatus"), Some("not configured"));
        assert!(
            f[0].to_string()
                .contains("exitreason=\"unknown keyword 'bogus_keyword' (at crm-bad.cfg:2)\""),
            "{}",
            f[0]
        );
        assert!(s.failures_of("hap").is_empty());
    }

    #[test]
    fn no_answer_is_an_error() {
        assert!(parse("").is_err());
        assert!(parse("<pacemaker-result><nodes>").is_err());
        assert!(parse("Error: cluster is not available on this node").is_err());
    }

    /// Pacemaker 2.1.5's own output (a started Dummy, a vip refused for a bad parameter).
    const REAL: &str = r#"<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">
  <pacemakerd sys_from="pacemakerd" state="running" last_updated="2026-12-03 10:22:43Z"/>
  <summary>
    <stack type="corosync"/>
    <current_dc present="true" version="2.1.5-a3f44794f94" name="node1" id="1" with_quorum="true" mixed_version="false"/>
    <last_update time="Thu Dec  3 10:22:43 2026"/>
    <last_change time="Thu Dec  3 10:22:35 2026" user="root" client="cibadmin" origin="node1"/>
    <nodes_configured number="1"/>
    <resources_configured number="2" disabled="0" blocked="0"/>
    <cluster_options stonith-enabled="false" symmetric-cluster="true" no-quorum-policy="stop" maintenance-mode="false" stop-all-resources="false" stonith-timeout-ms="60000" priority-fencing-delay-ms="0"/>
  </summary>
  <nodes>
    <node name="node1" id="1" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" health="green" feature_set="3.16.1" shutdown="false" expected_up="true" is_dc="true" resources_running="1" type="member"/>
  </nodes>
  <resources>
    <resource id="d1" resource_agent="ocf:pacemaker:Dummy" role="Started" active="true" orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="1">
      <node name="node1" id="1" cached="true"/>
    </resource>
    <resource id="bad" resource_agent="ocf:oxha:vip" role="Stopped" active="false" orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="0"/>
  </resources>
  <node_history>
    <node name="node1">
      <resource_history id="bad" orphan="false" migration-threshold="1000000">
        <operation_history call="8" task="probe" rc="6" rc_text="not configured" last-rc-change="Thu Dec  3 10:22:36 2026" exec-time="2ms" queue-time="0ms"/>
        <operation_history call="10" task="stop" rc="0" rc_text="ok" last-rc-change="Thu Dec  3 10:22:36 2026" exec-time="2ms" queue-time="0ms"/>
      </resource_history>
      <resource_history id="d1" orphan="false" migration-threshold="1000000">
        <operation_history call="11" task="start" rc="0" rc_text="ok" last-rc-change="Thu Dec  3 10:22:36 2026" exec-time="13ms" queue-time="0ms"/>
        <operation_history call="12" task="monitor" rc="0" rc_text="ok" interval="10000ms" last-rc-change="Thu Dec  3 10:22:36 2026" exec-time="8ms" queue-time="0ms"/>
      </resource_history>
    </node>
  </node_history>
  <failures>
    <failure op_key="bad_monitor_0" node="node1" exitstatus="not configured" exitreason="parameter &amp;apos;ip&amp;apos;: invalid value &amp;apos;not-an-ip&amp;apos;: not an IPv4 or IPv6 address" exitcode="6" call="8" status="complete" last-rc-change="2026-12-03 10:22:36Z" queued="0" exec="2" interval="0" task="monitor"/>
  </failures>
  <status code="0" message="OK"/>
</pacemaker-result>"#;

    #[test]
    fn pacemaker_2_1_output() {
        let s = parse(REAL).expect("parses");
        assert_eq!(s.node("node1").map(|n| n.online), Some(true));
        let d1 = s.resource("d1").expect("d1");
        assert_eq!(
            (d1.role.as_str(), d1.nodes.as_slice()),
            ("Started", &["node1".to_string()][..])
        );
        assert_eq!(s.resource("bad").map(|r| r.role.as_str()), Some("Stopped"));
        let f = s.failures_of("bad");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].get("exitstatus"), Some("not configured"));
        assert!(f[0].to_string().contains("not-an-ip"), "{}", f[0]);
        assert!(s.failures_of("d1").is_empty());
    }
}
