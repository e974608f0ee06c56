//! Typed access to an agent's parameters, checked against its declarations.
//!
//! Values arrive as strings (OCF environment, fence stdin or command line). Every lookup goes
//! through the declared [`Param`], so defaults, types and checks live in one place, and every
//! error names the parameter and the bad value (except for secrets).

use crate::meta::{AgentMeta, Param, ParamType};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A parameter that was set to something it cannot be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub name: String,
    /// `None` for secrets, which are never echoed.
    pub value: Option<String>,
    pub why: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(
                f,
                "parameter '{}': invalid value '{}': {}",
                self.name, v, self.why
            ),
            None => write!(f, "parameter '{}': {}", self.name, self.why),
        }
    }
}

impl std::error::Error for ParamError {}

/// `ocf_is_true` / `ocf_is_false` spellings. Anything else is an error, not "false".
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" | "y" => Ok(true),
        "0" | "no" | "false" | "off" | "n" => Ok(false),
        _ => Err("expected a boolean (yes/no, true/false, on/off, 1/0)".into()),
    }
}

/// A time span: `10` (seconds), `1.5`, `500ms`, `10s`, `2m`, `2min`, `1h`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a duration such as 10, 10s, 500ms or 2min".to_string())?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" | "msec" | "msecs" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        _ => return Err("expected a duration unit of ms, s, min or h".into()),
    };
    let secs = number * scale;
    if !secs.is_finite() || !(0.0..=1.0e9).contains(&secs) {
        return Err("duration out of range".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Checks one value against a declaration: its type, its options, its custom check.
pub fn check_value(param: &Param, value: &str) -> Result<(), String> {
    match param.kind {
        ParamType::Boolean => parse_bool(value).map(|_| ()),
        ParamType::Integer => value
            .trim()
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| "expected an integer".to_string()),
        ParamType::Duration => parse_duration(value).map(|_| ()),
        ParamType::Select(options) => {
            if options.contains(&value) {
                Ok(())
            } else {
                Err(format!("expected one of: {}", options.join(", ")))
            }
        }
        ParamType::String => Ok(()),
    }?;
    match param.check {
        Some(check) => check(value),
        None => Ok(()),
    }
}

/// The values given to one invocation, keyed by canonical parameter name.
#[derive(Clone)]
pub struct Params {
    meta: &'static AgentMeta,
    values: BTreeMap<&'static str, String>,
}

/// `{:?}` shows every value but a secret's: `Params { agent: "fence_x", values: {"ip":
/// "10.0.0.1", "password": ****} }`. A `Params` sits in every context an agent may print.
impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Values<'a>(&'a Params);
        impl fmt::Debug for Values<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                for (name, value) in &self.0.values {
                    if self.0.meta.param(name).is_none_or(|p| p.secret) {
                        map.entry(name, &format_args!("****"));
                    } else {
                        map.entry(name, value);
                    }
                }
                map.finish()
            }
        }
        f.debug_struct("Params")
            .field("agent", &self.meta.name)
            .field("values", &Values(self))
            .finish()
    }
}

impl Params {
    pub fn new(meta: &'static AgentMeta) -> Params {
        Params {
            meta,
            values: BTreeMap::new(),
        }
    }

    /// Sets a value by any name the parameter answers to. Returns false for unknown keys.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> bool {
        match self.meta.param(key) {
            Some(p) => {
                let value = value.into();
                if p.secret {
                    crate::log::register_secret(&value);
                }
                self.values.insert(p.name, value);
                true
            }
            None => false,
        }
    }

    pub fn meta(&self) -> &'static AgentMeta {
        self.meta
    }

    fn declared(&self, name: &str) -> &'static Param {
        match self.meta.param(name) {
            Some(p) => p,
            // A lookup of an undeclared name is a bug in the agent, caught by its unit tests.
            None => panic!("{}: parameter '{name}' is not declared", self.meta.name),
        }
    }

    /// True if the user gave a value (defaults do not count).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(self.declared(name).name)
    }

    /// The given value, else the declared default.
    pub fn raw(&self, name: &str) -> Option<&str> {
        let p = self.declared(name);
        self.values.get(p.name).map(String::as_str).or(p.default)
    }

    fn error(&self, p: &Param, value: &str, why: String) -> ParamError {
        ParamError {
            name: p.name.to_string(),
            value: (!p.secret).then(|| value.to_string()),
            why,
        }
    }

    /// Checks every given value and every required parameter.
    pub fn check_all(&self) -> Result<(), ParamError> {
        for p in self.meta.all_params() {
            match self.values.get(p.name) {
                Some(v) => check_value(p, v).map_err(|why| self.error(p, v, why))?,
                None if p.required => {
                    return Err(ParamError {
                        name: p.name.to_string(),
                        value: None,
                        why: "is required but not set".into(),
                    })
                }
                None => {}
            }
        }
        Ok(())
    }

    /// A value converted by `parse`; its error message is wrapped with the parameter's name.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ParamError> {
        let p = self.declared(name);
        match self.raw(name) {
            None => Ok(None),
            Some(v) => {
                check_value(p, v).map_err(|why| self.error(p, v, why))?;
                parse(v).map(Some).map_err(|why| self.error(p, v, why))
            }
        }
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.raw(name).map(str::to_string)
    }

    pub fn required_string(&self, name: &str) -> Result<String, ParamError> {
        self.string(name).ok_or_else(|| ParamError {
            name: name.to_string(),
            value: None,
            why: "is required but not set".into(),
        })
    }

    pub fn bool(&self, name: &str) -> Result<bool, ParamError> {
        Ok(self.parsed(name, parse_bool)?.unwrap_or(false))
    }

    pub fn integer<T: FromStr>(&self, name: &str) -> Result<Option<T>, ParamError> {
        self.parsed(name, |v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| "integer out of range".to_string())
        })
    }

    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ParamError> {
        self.parsed(name, parse_duration)
    }
}

/// A parameter that cannot be what it is set to is a configuration error everywhere.
impl From<ParamError> for crate::status::OcfError {
    fn from(e: ParamError) -> Self {
        crate::status::OcfError::configured(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{AgentKind, AgentMeta};

    static PARAMS: &[Param] = &[
        Param::string("ip", "address").required(),
        Param::integer("count", "count").default("5"),
        Param::boolean("flag", "flag"),
        Param::duration("wait", "wait").default("2s"),
        Param::select("mode", &["hard", "soft"], "mode").default("hard"),
        Param::string("key", "secret").secret().aliases(&["apikey"]),
        Param::string("even", "even length").check(|v| {
            if v.len() % 2 == 0 {
                Ok(())
            } else {
                Err("length must be even".into())
            }
        }),
    ];
    static META: AgentMeta = AgentMeta {
        name: "test",
        kind: AgentKind::Resource,
        version: "0",
        shortdesc: "",
        longdesc: "",
        params: PARAMS,
        param_groups: &[],
        actions: &[],
        man_sections: &[],
    };

    #[test]
    fn booleans() {
        for (input, want) in [
            ("yes", Some(true)),
            ("TRUE", Some(true)),
            ("1", Some(true)),
            ("on", Some(true)),
            ("no", Some(false)),
            ("False", Some(false)),
            ("0", Some(false)),
            ("off", Some(false)),
            ("", None),
            ("2", None),
            ("maybe", None),
        ] {
            assert_eq!(parse_bool(input).ok(), want, "input {input:?}");
        }
    }

    #[test]
    fn durations() {
        for (input, want_ms) in [
            ("10", Some(10_000)),
            ("1.5", Some(1_500)),
            ("500ms", Some(500)),
            ("10s", Some(10_000)),
            ("2min", Some(120_000)),
            ("2m", Some(120_000)),
            ("1h", Some(3_600_000)),
            (" 3 s", Some(3_000)),
            ("", None),
            ("s", None),
            ("10x", None),
            ("-1", None),
            ("1e999", None),
            ("99999999999999", None),
        ] {
            let got = parse_duration(input).ok().map(|d| d.as_millis());
            assert_eq!(got, want_ms, "input {input:?}");
        }
    }

    #[test]
    fn typed_access_and_defaults() {
        let mut p = Params::new(&META);
        assert!(p.set("ip", "10.0.0.1"));
        assert!(!p.set("nonsense", "x"));
        assert_eq!(p.integer::<u32>("count").unwrap(), Some(5));
        assert!(!p.bool("flag").unwrap());
        assert_eq!(p.duration("wait").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(p.string("mode").as_deref(), Some("hard"));
        assert!(!p.is_set("count"));
        p.set("count", "7");
        assert!(p.is_set("count"));
        assert_eq!(p.integer::<u8>("count").unwrap(), Some(7));
        p.set("apikey", "s3cret");
        assert_eq!(p.string("key").as_deref(), Some("s3cret"));
        assert!(p.check_all().is_ok());
    }

    #[test]
    fn bad_values_name_parameter_and_value() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "count",
                "abc",
                "parameter 'count': invalid value 'abc': expected an integer",
            ),
            (
                "flag",
                "perhaps",
                "parameter 'flag': invalid value 'perhaps': expected a boolean",
            ),
            (
                "wait",
                "soon",
                "parameter 'wait': invalid value 'soon': expected a duration",
            ),
            (
                "mode",
                "gentle",
                "parameter 'mode': invalid value 'gentle': expected one of: hard, soft",
            ),
            (
                "even",
                "abc",
                "parameter 'even': invalid value 'abc': length must be even",
            ),
        ];
        for (name, value, want) in cases {
            let mut p = Params::new(&META);
            p.set("ip", "x");
            p.set(name, *value);
            let err = p.check_all().unwrap_err().to_string();
            assert!(err.starts_with(want), "{name}={value}: got {err:?}");
        }
    }

    #[test]
    fn missing_required_and_secret_values_are_not_echoed() {
        let p = Params::new(&META);
        assert_eq!(
            p.check_all().unwrap_err().to_string(),
            "parameter 'ip': is required but not set"
        );
        let mut p = Params::new(&META);
        p.set("ip", "x");
        p.set("count", "300");
        assert!(p.integer::<u8>("count").is_err());
    }

    #[test]
    fn secrets_are_never_in_errors() {
        static SECRET_PARAMS: &[Param] = &[Param::integer("pin", "pin").secret()];
        static SECRET_META: AgentMeta = AgentMeta {
            params: SECRET_PARAMS,
            ..META
        };
        let mut p = Params::new(&SECRET_META);
        p.set("pin", "hunter2");
        let err = p.check_all().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("pin"));
    }

    #[test]
    fn secrets_are_never_in_a_debug_print() {
        let mut p = Params::new(&META);
        p.set("ip", "10.9.8.7");
        p.set("apikey", "debug-printed-key-value");
        for shown in [format!("{p:?}"), format!("{p:#?}")] {
            assert!(!shown.contains("debug-printed-key-value"), "{shown}");
            assert!(shown.contains("\"key\": ****"), "{shown}");
            assert!(
                shown.contains("10.9.8.7"),
                "other values stay visible: {shown}"
            );
        }
        assert_eq!(
            p.string("key").as_deref(),
            Some("debug-printed-key-value"),
            "the value itself is kept"
        );
    }
}
