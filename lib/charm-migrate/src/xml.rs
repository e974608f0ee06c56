//! The CIB as a small element tree: the plan walks `configuration/resources` up and down
//! (a primitive's group, the group's clone), which a tree makes plain. Text, comments and
//! processing instructions carry nothing the plan reads and are dropped.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a whole XML document into its root element. Errors are one line, with the byte
/// offset where the reader stopped.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("the CIB is not well-formed XML (byte {at}): {e}"))?;
        match event {
            Event::Start(start) => stack.push(element(&start, at)?),
            Event::Empty(start) => {
                let e = element(&start, at)?;
                close(&mut stack, &mut root, e, at)?;
            }
            Event::End(_) => {
                let e = stack.pop().ok_or_else(|| {
                    format!(
                        "the CIB is not well-formed XML (byte {at}): a closing tag opens nothing"
                    )
                })?;
                close(&mut stack, &mut root, e, at)?;
            }
            Event::Text(t) if stack.is_empty() && !t.iter().all(u8::is_ascii_whitespace) => {
                return Err(format!(
                    "the CIB is not well-formed XML (byte {at}): text outside the root element"
                ));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "the CIB is not well-formed XML: it ends before <{}> is closed",
            open.name
        ));
    }
    root.ok_or_else(|| "the CIB is empty: no XML element in the input".to_string())
}

fn close(
    stack: &mut [Element],
    root: &mut Option<Element>,
    e: Element,
    at: u64,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(e),
        None if root.is_none() => *root = Some(e),
        None => {
            return Err(format!(
                "the CIB is not well-formed XML (byte {at}): a second root element <{}>",
                e.name
            ))
        }
    }
    Ok(())
}

fn element(start: &BytesStart, at: u64) -> Result<Element, String> {
    let bad =
        |e: &dyn std::fmt::Display| format!("the CIB is not well-formed XML (byte {at}): {e}");
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| bad(&e))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr.unescape_value().map_err(|e| bad(&e))?.into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_and_unescapes_attributes() {
        let root = parse(
            r#"<?xml version="1.0"?><cib a="x &amp; y"><configuration><resources/></configuration></cib>"#,
        )
        .expect("parses");
        assert_eq!(root.name, "cib");
        assert_eq!(root.attr("a"), Some("x & y"));
        assert!(root
            .child("configuration")
            .and_then(|c| c.child("resources"))
            .is_some());
    }

    #[test]
    fn bad_documents_are_one_line_errors() {
        for (text, want) in [
            ("", "empty"),
            ("<cib><configuration></cib>", "well-formed"),
            ("<cib>", "ends before <cib>"),
            ("<cib/><cib/>", "second root"),
            ("not xml", "text outside"),
            ("<cib a=\"1\" a=\"2\"/>", "well-formed"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{text:?}: {err}");
        }
    }
}
