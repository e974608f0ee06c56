//! The one description of an agent: its parameters and actions, declared once as constants.
//!
//! From it come the OCF 1.1 metadata XML, the fence-agent metadata XML, the roff man page, the
//! fence-agent command line and the typed parameter checks, so none of them can drift apart.

/// How a parameter's value is spelled and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// `ocf_is_true` spellings: yes/no, true/false, on/off, 1/0 (any case).
    Boolean,
    String,
    /// A whole number (optionally signed).
    Integer,
    /// A time span: a plain number is seconds; `ms`, `s`, `m`/`min`, `h` suffixes are accepted.
    /// OCF 1.1 has no time type, so it renders as `string` there and `second` for fence agents.
    Duration,
    /// One of a fixed set of values.
    Select(&'static [&'static str]),
}

/// A fence-agent command-line spelling: `-n, --plug=[id]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Getopt {
    pub short: Option<char>,
    /// Placeholder in the usage text; `None` for a flag that takes no value.
    pub value_name: Option<&'static str>,
}

/// A validation hook: `Err(why)` names what is wrong with the value (the value itself is added
/// by the caller, except for secrets).
pub type Check = fn(&str) -> Result<(), String>;

#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
    pub kind: ParamType,
    pub default: Option<&'static str>,
    pub required: bool,
    /// OCF 1.1 `unique-group`: the combination of parameters sharing a group must be unique.
    pub unique_group: Option<&'static str>,
    pub reloadable: bool,
    /// Never logged, never echoed in an error, registered for redaction once read.
    pub secret: bool,
    /// Older names that are accepted for this parameter (`port` for `plug`, `ipaddr` for `ip`).
    /// Fence metadata lists each as a deprecated parameter, as fencing.py does.
    pub aliases: &'static [&'static str],
    /// Fence agents only: the command-line option. Every fence parameter gets a long option
    /// (`--power-timeout`); this adds the short letter and value placeholder.
    pub getopt: Getopt,
    pub check: Option<Check>,
    /// OCF: the parameter is deprecated in favour of the named one.
    pub deprecated_for: Option<&'static str>,
}

impl Param {
    pub const fn new(name: &'static str, kind: ParamType, shortdesc: &'static str) -> Param {
        Param {
            name,
            shortdesc,
            longdesc: "",
            kind,
            default: None,
            required: false,
            unique_group: None,
            reloadable: false,
            secret: false,
            aliases: &[],
            getopt: Getopt {
                short: None,
                value_name: Some("value"),
            },
            check: None,
            deprecated_for: None,
        }
    }
    pub const fn string(name: &'static str, shortdesc: &'static str) -> Param {
        Param::new(name, ParamType::String, shortdesc).value_name("string")
    }
    pub const fn boolean(name: &'static str, shortdesc: &'static str) -> Param {
        Param::new(name, ParamType::Boolean, shortdesc).flag()
    }
    pub const fn integer(name: &'static str, shortdesc: &'static str) -> Param {
        Param::new(name, ParamType::Integer, shortdesc).value_name("number")
    }
    pub const fn duration(name: &'static str, shortdesc: &'static str) -> Param {
        Param::new(name, ParamType::Duration, shortdesc).value_name("seconds")
    }
    pub const fn select(
        name: &'static str,
        options: &'static [&'static str],
        shortdesc: &'static str,
    ) -> Param {
        Param::new(name, ParamType::Select(options), shortdesc).value_name("option")
    }
    pub const fn longdesc(mut self, text: &'static str) -> Param {
        self.longdesc = text;
        self
    }
    pub const fn default(mut self, value: &'static str) -> Param {
        self.default = Some(value);
        self
    }
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }
    pub const fn unique_group(mut self, group: &'static str) -> Param {
        self.unique_group = Some(group);
        self
    }
    pub const fn reloadable(mut self) -> Param {
        self.reloadable = true;
        self
    }
    pub const fn secret(mut self) -> Param {
        self.secret = true;
        self
    }
    pub const fn aliases(mut self, names: &'static [&'static str]) -> Param {
        self.aliases = names;
        self
    }
    pub const fn short(mut self, letter: char) -> Param {
        self.getopt.short = Some(letter);
        self
    }
    pub const fn value_name(mut self, placeholder: &'static str) -> Param {
        self.getopt.value_name = Some(placeholder);
        self
    }
    pub const fn flag(mut self) -> Param {
        self.getopt.value_name = None;
        self
    }
    pub const fn check(mut self, check: Check) -> Param {
        self.check = Some(check);
        self
    }
    pub const fn deprecated_for(mut self, replacement: &'static str) -> Param {
        self.deprecated_for = Some(replacement);
        self
    }

    /// True if `key` names this parameter: its name, an alias, or either with `-` for `_`
    /// (fencing.py accepts `power-timeout` on stdin for `power_timeout`).
    pub fn answers_to(&self, key: &str) -> bool {
        let matches = |name: &str| {
            key.len() == name.len()
                && key
                    .bytes()
                    .zip(name.bytes())
                    .all(|(k, n)| k == n || (k == b'-' && n == b'_'))
        };
        matches(self.name) || self.aliases.iter().any(|a| matches(a))
    }

    /// `--power-timeout`: the long option of a fence parameter.
    pub fn long_option(&self) -> String {
        self.name.replace('_', "-")
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ActionMeta {
    pub name: &'static str,
    /// Suggested timeout in seconds (pcs copies it into the CIB on `resource create`).
    pub timeout: u32,
    pub interval: Option<u32>,
    pub depth: Option<u32>,
    pub role: Option<&'static str>,
    pub start_delay: Option<u32>,
    /// Fence agents: `automatic="0"` on `on` (no automatic unfencing).
    pub automatic: Option<bool>,
    pub on_target: Option<bool>,
}

impl ActionMeta {
    pub const fn new(name: &'static str, timeout: u32) -> ActionMeta {
        ActionMeta {
            name,
            timeout,
            interval: None,
            depth: None,
            role: None,
            start_delay: None,
            automatic: None,
            on_target: None,
        }
    }
    pub const fn interval(mut self, seconds: u32) -> ActionMeta {
        self.interval = Some(seconds);
        self
    }
    pub const fn depth(mut self, depth: u32) -> ActionMeta {
        self.depth = Some(depth);
        self
    }
    pub const fn role(mut self, role: &'static str) -> ActionMeta {
        self.role = Some(role);
        self
    }
    pub const fn start_delay(mut self, seconds: u32) -> ActionMeta {
        self.start_delay = Some(seconds);
        self
    }
    pub const fn automatic(mut self, automatic: bool) -> ActionMeta {
        self.automatic = Some(automatic);
        self
    }
    pub const fn on_target(mut self, on_target: bool) -> ActionMeta {
        self.on_target = Some(on_target);
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    /// An OCF resource agent, installed as `/usr/lib/ocf/resource.d/oxha/<name>`.
    Resource,
    /// A fence agent, installed as `/usr/sbin/<name>`.
    Fence,
    /// An operator's command (`oxha-check`), installed as `/usr/sbin/<name>`: its parameters
    /// are command-line options, its actions verbs. Only its man page is rendered.
    Tool,
}

/// A titled block of prose for the man page (examples, differences, notes).
#[derive(Clone, Copy, Debug)]
pub struct ManSection {
    pub title: &'static str,
    /// Paragraphs separated by blank lines; lines starting with two spaces are set verbatim.
    pub body: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct AgentMeta {
    pub name: &'static str,
    pub kind: AgentKind,
    /// The agent's own version (not the OCF API version, which is always 1.1).
    pub version: &'static str,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
    pub params: &'static [Param],
    /// Shared parameter groups the agent also accepts, after its own: the standard fence-agent
    /// options (`ocf_lib::fence::STANDARD_OPTIONS`), a client's connection group. A name the
    /// agent declares itself (or an earlier group declares) wins, so an agent redeclares a
    /// shared parameter to change its default.
    pub param_groups: &'static [&'static [Param]],
    pub actions: &'static [ActionMeta],
    pub man_sections: &'static [ManSection],
}

pub const VENDOR_URL: &str = "https://github.com/oxha/oxha";
pub const PROVIDER: &str = "oxha";

impl AgentMeta {
    /// Every parameter the agent accepts: its own, then those of its groups it did not
    /// redeclare.
    pub fn all_params(&self) -> Vec<&'static Param> {
        let mut all: Vec<&'static Param> = self.params.iter().collect();
        for group in self.param_groups {
            for p in group.iter() {
                if !all.iter().any(|known| known.name == p.name) {
                    all.push(p);
                }
            }
        }
        all
    }

    pub fn param(&self, key: &str) -> Option<&'static Param> {
        self.all_params().into_iter().find(|p| p.answers_to(key))
    }

    pub fn has_action(&self, name: &str) -> bool {
        self.actions.iter().any(|a| a.name == name)
    }

    /// The man page file name, as resource-agents and fence-agents name theirs.
    pub fn man_file(&self) -> String {
        match self.kind {
            AgentKind::Resource => format!("ocf_{}_{}.7", PROVIDER, self.name),
            AgentKind::Fence | AgentKind::Tool => format!("{}.8", self.name),
        }
    }
}
