//! The configuration one instance runs: a private directory of links to the operator's files.
//!
//! haproxy re-executes its master with the *original* command line on every reload, so the
//! files named on that command line can never change. The agent therefore starts haproxy with
//! one stable argument, `-f <instance dir>`, a directory it fills with:
//! * `000-oxha-agent.cfg`: a `global` section with the instance's stats socket (and `user`);
//! * `NNN-<name>.cfg`: a link to each configured file, and to each `*.cfg` file of each
//!   configured directory, in the order given (haproxy reads a directory in name order).
//!
//! A changed `conffile` list is then a reload like any other: build the new directory next to
//! the live one, check it with `haproxy -c`, swap it in, ask the master to reload.

use ocf_lib::child::Child;
use ocf_lib::Deadline;
use std::fs::File;
use std::path::{Path, PathBuf};

/// What the agent adds to every instance's configuration.
pub struct AgentSection<'a> {
    pub stats_socket: &'a Path,
    pub user: Option<&'a str>,
}

#[derive(Debug)]
pub enum ConfigError {
    /// A configured file or directory does not exist (or is not readable).
    Missing(String),
    /// The agent could not write its own files.
    Io(String),
}

/// The files haproxy will read for `conffiles`, in order: files as given, directories
/// expanded to their `*.cfg` regular files sorted by name, as haproxy does with `-f dir`.
pub fn expand(conffiles: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    for path in conffiles {
        let meta = std::fs::metadata(path)
            .map_err(|e| ConfigError::Missing(format!("configuration {}: {e}", path.display())))?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| {
                ConfigError::Missing(format!("configuration directory {}: {e}", path.display()))
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cfg") && p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            File::open(path).map_err(|e| {
                ConfigError::Missing(format!("configuration {}: {e}", path.display()))
            })?;
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Writes the instance directory `dir` (replacing whatever was there) for `conffiles`.
pub fn build(dir: &Path, conffiles: &[PathBuf], agent: &AgentSection) -> Result<(), ConfigError> {
    let files = expand(conffiles)?;
    let io = |what: &str, p: &Path, e: std::io::Error| {
        ConfigError::Io(format!("cannot {what} {}: {e}", p.display()))
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io("remove", dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let mut section = format!(
        "# Written by the oxha haproxy agent for this instance; rewritten on every start and reload.\n\
global\n    stats socket {} mode 600 level admin\n",
        agent.stats_socket.display()
    );
    if let Some(user) = agent.user {
        section.push_str(&format!("    user {user}\n"));
    }
    let own = dir.join("000-oxha-agent.cfg");
    std::fs::write(&own, section).map_err(|e| io("write", &own, e))?;
    for (i, file) in files.iter().enumerate() {
        let base = file
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .replace(|c: char| c.is_whitespace(), "_")
            })
            .unwrap_or_default();
        let base = base.strip_suffix(".cfg").unwrap_or(&base);
        let link = dir.join(format!("{:03}-{base}.cfg", i + 1));
        let target = std::path::absolute(file).map_err(|e| io("resolve", file, e))?;
        std::os::unix::fs::symlink(&target, &link).map_err(|e| io("link", &link, e))?;
    }
    Ok(())
}

/// Replaces the links of `dir` in `text` by the files they point at, so messages name the
/// operator's files, not the agent's links.
pub fn unlink_names(dir: &Path, text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let link = entry.path();
            if let Ok(target) = std::fs::read_link(&link) {
                out = out.replace(
                    link.to_string_lossy().as_ref(),
                    target.to_string_lossy().as_ref(),
                );
            }
        }
    }
    out
}

/// haproxy's own first error: the first `[ALERT]` line without its prefix
/// (`[ALERT]    (123) : config : parsing [x.cfg:2] : unknown keyword ...` → `config : parsing ...`).
pub fn first_error(output: &str) -> Option<String> {
    let strip = |line: &str| {
        let rest = line.trim();
        let rest = rest.strip_prefix("[ALERT]").unwrap_or(rest).trim_start();
        let rest = match rest.strip_prefix('(') {
            Some(r) => r.split_once(')').map_or(r, |(_, after)| after),
            None => rest,
        };
        let rest = rest.trim_start().trim_start_matches(':').trim();
        let rest = rest.strip_prefix("config :").map_or(rest, str::trim_start);
        // Pacemaker keeps 128 characters of an exit reason: the message first, then where.
        match rest
            .strip_prefix("parsing [")
            .and_then(|r| r.split_once("] :"))
        {
            Some((place, message)) => format!("{} (at {place})", message.trim()),
            None => rest.to_string(),
        }
    };
    output
        .lines()
        .find(|l| l.trim_start().starts_with("[ALERT]"))
        .map(strip)
        .or_else(|| {
            output
                .lines()
                .map(str::trim)
                .find(|l| {
                    !l.is_empty() && !l.starts_with("[NOTICE]") && !l.starts_with("[WARNING]")
                })
                .map(str::to_string)
        })
}

/// `haproxy -c` on an instance directory: `Ok(())` if valid, else haproxy's first error.
pub fn check(binary: &Path, dir: &Path, log: &Path, deadline: &Deadline) -> Result<(), String> {
    // Output to a file, not a pipe, like every haproxy run of the agent (see start).
    let done = Child::new(binary)
        .arg("-c")
        .arg("-f")
        .arg(dir)
        .output_to(log)
        .run(deadline)
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(log);
    if done.status.success() {
        return Ok(());
    }
    let status = done.status;
    let first =
        first_error(&done.stdout).unwrap_or_else(|| format!("haproxy -c failed ({status})"));
    Err(unlink_names(dir, &first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_alert_line() {
        let out = "[NOTICE]   (14057) : haproxy version is 2.6.12-1+deb12u4\n\
[ALERT]    (14057) : config : parsing [bad.cfg:2] : unknown keyword 'bogus_keyword' in 'global' section\n\
[ALERT]    (14057) : config : Fatal errors found in configuration.\n";
        assert_eq!(
            first_error(out).as_deref(),
            Some("unknown keyword 'bogus_keyword' in 'global' section (at bad.cfg:2)")
        );
        assert_eq!(
            first_error("[NOTICE] x\nsomething odd\n").as_deref(),
            Some("something odd")
        );
        assert_eq!(first_error(""), None);
    }
}
