//! A primitive as the plan rewrites it, read from the CIB and written back in crm shell syntax
//! (`crm configure load update` replaces the object with the same id as a whole).
//!
//! Only primitives crm's syntax carries back exactly are read: one plain set each of params,
//! meta attributes and utilization, operations with plain attributes, no rules, references or
//! templates, and values without quotes, backslashes or line breaks. Anything else is reported
//! as the reason the primitive is left alone: a rewrite that loses a rule or an id-ref would
//! change the cluster's behaviour without anyone asking for it.

use crate::xml::Element;

/// Attributes of `<op>` in Pacemaker's schema: crm puts any other `name=value` of an op line
/// into the op's instance attributes, so an op parameter with one of these names would not
/// come back where it was.
const OP_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "interval",
    "description",
    "start-delay",
    "interval-origin",
    "timeout",
    "enabled",
    "record-pending",
    "role",
    "requires",
    "on-fail",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub class: String,
    pub provider: Option<String>,
    pub kind: String,
}

impl Agent {
    pub fn new(class: &str, provider: Option<&str>, kind: &str) -> Agent {
        Agent {
            class: class.to_string(),
            provider: provider.map(str::to_string),
            kind: kind.to_string(),
        }
    }

    /// `ocf:heartbeat:IPaddr2`, `stonith:external/maas`, `lsb:haproxy`.
    pub fn spec(&self) -> String {
        match &self.provider {
            Some(p) => format!("{}:{}:{}", self.class, p, self.kind),
            None => format!("{}:{}", self.class, self.kind),
        }
    }
}

/// One `<op>`: its attributes (without the id crm makes anew) then its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    pub agent: Agent,
    pub params: Vec<(String, String)>,
    pub meta: Vec<(String, String)>,
    pub utilization: Vec<(String, String)>,
    pub ops: Vec<Op>,
}

impl Primitive {
    /// The agent a `<primitive>` names, read even when the rest cannot be rewritten (for notes).
    pub fn agent_of(e: &Element) -> Agent {
        match e.attr("template") {
            Some(t) => Agent::new("template", None, t),
            None => Agent::new(
                e.attr("class").unwrap_or("?"),
                e.attr("provider"),
                e.attr("type").unwrap_or("?"),
            ),
        }
    }

    /// Reads a `<primitive>`, or says why it cannot be rewritten faithfully.
    pub fn read(e: &Element) -> Result<Primitive, String> {
        let id = e.attr("id").ok_or("a primitive without an id")?.to_string();
        if !plain_name(&id) {
            return Err("its id is not a plain name".into());
        }
        for (k, _) in &e.attrs {
            if !matches!(k.as_str(), "id" | "class" | "provider" | "type") {
                return Err(format!(
                    "it has the attribute '{k}' (a template or description)"
                ));
            }
        }
        let class = e.attr("class").ok_or("it names no class")?;
        let kind = e.attr("type").ok_or("it names no type")?;
        let mut p = Primitive {
            id,
            agent: Agent::new(class, e.attr("provider"), kind),
            params: Vec::new(),
            meta: Vec::new(),
            utilization: Vec::new(),
            ops: Vec::new(),
        };
        let mut seen: Vec<&str> = Vec::new();
        for child in &e.children {
            if seen.contains(&child.name.as_str()) {
                return Err(format!("it has more than one <{}>", child.name));
            }
            seen.push(&child.name);
            match child.name.as_str() {
                "instance_attributes" => p.params = nvpairs(child)?,
                "meta_attributes" => p.meta = nvpairs(child)?,
                "utilization" => p.utilization = nvpairs(child)?,
                "operations" => p.ops = operations(child)?,
                other => return Err(format!("it has a <{other}>")),
            }
        }
        Ok(p)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The primitive in crm shell syntax, one continued line per section.
    pub fn render(&self) -> String {
        let mut lines = vec![format!("primitive {} {}", self.id, self.agent.spec())];
        for (word, set) in [
            ("params", &self.params),
            ("meta", &self.meta),
            ("utilization", &self.utilization),
        ] {
            if !set.is_empty() {
                lines.push(format!("{word} {}", pairs(set)));
            }
        }
        for op in &self.ops {
            let mut line = format!("op {}", op.name);
            for set in [&op.attrs, &op.params] {
                if !set.is_empty() {
                    line.push(' ');
                    line.push_str(&pairs(set));
                }
            }
            lines.push(line);
        }
        let mut out = lines.join(" \\\n\t");
        out.push('\n');
        out
    }
}

fn pairs(set: &[(String, String)]) -> String {
    set.iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name crm reads back as itself (ids, parameter and op names).
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// A value crm reads back as itself between double quotes.
fn plain_value(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

fn nvpairs(set: &Element) -> Result<Vec<(String, String)>, String> {
    for (k, _) in &set.attrs {
        if k != "id" {
            return Err(format!(
                "its <{}> has '{k}' (a rule score or reference)",
                set.name
            ));
        }
    }
    let mut out = Vec::new();
    for nv in &set.children {
        if nv.name != "nvpair" {
            return Err(format!("its <{}> has a <{}>", set.name, nv.name));
        }
        if nv.attrs.iter().any(|(k, _)| k == "id-ref") {
            return Err(format!("its <{}> refers to another nvpair", set.name));
        }
        let name = nv.attr("name").ok_or("an nvpair without a name")?;
        let value = nv.attr("value").unwrap_or("");
        if !plain_name(name) {
            return Err(format!("the name '{name}' is not plain"));
        }
        if !plain_value(value) {
            return Err(format!(
                "the value of '{name}' has a quote, a backslash or a line break"
            ));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

fn operations(ops: &Element) -> Result<Vec<Op>, String> {
    for (k, _) in &ops.attrs {
        if k != "id" {
            return Err(format!("its <operations> has '{k}'"));
        }
    }
    let mut out = Vec::new();
    for op in &ops.children {
        if op.name != "op" {
            return Err(format!("its <operations> has a <{}>", op.name));
        }
        let name = op.attr("name").ok_or("an op without a name")?;
        if !plain_name(name) {
            return Err(format!("the op name '{name}' is not plain"));
        }
        let mut attrs = Vec::new();
        for (k, v) in &op.attrs {
            if k == "id" || k == "name" {
                continue;
            }
            if !OP_ATTRIBUTES.contains(&k.as_str()) {
                return Err(format!("its op {name} has the attribute '{k}'"));
            }
            if !plain_value(v) {
                return Err(format!("its op {name} has a value crm cannot carry"));
            }
            attrs.push((k.clone(), v.clone()));
        }
        let mut params = Vec::new();
        for child in &op.children {
            if child.name != "instance_attributes" || !params.is_empty() {
                return Err(format!("its op {name} has a <{}>", child.name));
            }
            params = nvpairs(child)?;
            if let Some((k, _)) = params
                .iter()
                .find(|(k, _)| OP_ATTRIBUTES.contains(&k.as_str()))
            {
                return Err(format!(
                    "its op {name} has a parameter named like an op attribute ('{k}')"
                ));
            }
        }
        out.push(Op {
            name: name.to_string(),
            attrs,
            params,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    #[test]
    fn renders_every_section_in_crm_syntax() {
        let e = parse(
            r#"<primitive id="r" class="ocf" provider="heartbeat" type="IPaddr2">
              <instance_attributes id="r-ia"><nvpair id="r-ia-ip" name="ip" value="10.0.0.1"/></instance_attributes>
              <meta_attributes id="r-ma"><nvpair id="r-ma-t" name="failure-timeout" value="5s"/></meta_attributes>
              <operations><op id="r-m" name="monitor" interval="10s" timeout="20s">
                <instance_attributes id="r-m-ia"><nvpair id="r-m-d" name="depth" value="0"/></instance_attributes>
              </op></operations></primitive>"#,
        )
        .expect("xml");
        let p = Primitive::read(&e).expect("plain");
        assert_eq!(
            p.render(),
            "primitive r ocf:heartbeat:IPaddr2 \\\n\tparams ip=\"10.0.0.1\" \\\n\tmeta failure-timeout=\"5s\" \\\n\top monitor interval=\"10s\" timeout=\"20s\" depth=\"0\"\n"
        );
    }

    #[test]
    fn what_crm_cannot_carry_back_is_refused_with_a_reason() {
        for (xml, why) in [
            (r#"<primitive id="r" template="t"/>"#, "template"),
            (
                r#"<primitive id="r" class="lsb" type="x"><instance_attributes id="a"><rule id="x" score="1"/></instance_attributes></primitive>"#,
                "<rule>",
            ),
            (
                r#"<primitive id="r" class="lsb" type="x"><instance_attributes id="a"/><instance_attributes id="b"/></primitive>"#,
                "more than one",
            ),
            (
                r#"<primitive id="r" class="lsb" type="x"><instance_attributes id-ref="a"/></primitive>"#,
                "reference",
            ),
            (
                r#"<primitive id="r" class="lsb" type="x"><instance_attributes id="a"><nvpair id="n" name="k" value="a&quot;b"/></instance_attributes></primitive>"#,
                "quote",
            ),
            (
                r#"<primitive id="r" class="lsb" type="x"><operations id-ref="o"/></primitive>"#,
                "<operations> has 'id-ref'",
            ),
        ] {
            let e = parse(xml).expect("xml");
            let err = Primitive::read(&e).expect_err(xml);
            assert!(err.contains(why), "{xml}: {err}");
        }
    }
}
