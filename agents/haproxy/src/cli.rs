//! Talking to haproxy over its Unix sockets: the master CLI (`-S`) and the stats socket.
//!
//! Both take one command per connection here. The master CLI is interactive: it waits for
//! more input until the client half-closes, so every command is followed by `shutdown(Write)`.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Sends `command` and returns the whole answer (the server closes after one command).
pub fn command(socket: &Path, command: &str, timeout: Duration) -> Result<String, String> {
    // A zero timeout means "block forever" to the standard library.
    let timeout = timeout.max(Duration::from_millis(10));
    let fail = |what: &str, e: std::io::Error| format!("{} {what}: {e}", socket.display());
    let mut stream = UnixStream::connect(socket).map_err(|e| fail("connect", e))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| fail("timeout", e))?;
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| fail("write", e))?;
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| fail("shutdown", e))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| fail(&format!("reading the answer to '{command}'"), e))?;
    Ok(answer)
}

/// The master CLI's `show proc`, as far as the agent needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcList {
    pub master_pid: Option<i32>,
    /// How many times the master has been reloaded.
    pub reloads: u32,
    /// Failed reloads (`[failed: N]`, haproxy ≥ 2.6); 0 when not shown.
    pub failed_reloads: u32,
    /// Current workers (pid, reloads survived).
    pub workers: Vec<(i32, u32)>,
    /// Workers of earlier generations still draining their connections.
    pub old_workers: Vec<i32>,
}

impl ProcList {
    /// Parses the table:
    /// ```text
    /// #<PID>          <type>          <reloads>       <uptime>        <version>
    /// 14063           master          0 [failed: 0]   0d00h00m01s     2.6.12
    /// # workers
    /// 14064           worker          0               0d00h00m01s     2.6.12
    /// # old workers
    /// 13990           worker          1               0d00h00m09s     2.6.12
    /// # programs
    /// ```
    pub fn parse(text: &str) -> ProcList {
        let mut list = ProcList::default();
        let mut section = "master";
        for line in text.lines() {
            let line = line.trim();
            if let Some(header) = line.strip_prefix('#') {
                let header = header.trim();
                if !header.starts_with('<') {
                    section = match header {
                        "workers" => "workers",
                        "old workers" => "old",
                        _ => "other",
                    };
                }
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(pid), Some(kind)) = (
                fields.first().and_then(|p| p.parse::<i32>().ok()),
                fields.get(1),
            ) else {
                continue;
            };
            let reloads = fields
                .get(2)
                .and_then(|r| r.parse::<u32>().ok())
                .unwrap_or(0);
            match (section, *kind) {
                (_, "master") => {
                    list.master_pid = Some(pid);
                    list.reloads = reloads;
                    if let Some(at) = line.find("[failed:") {
                        list.failed_reloads = line[at + 8..]
                            .trim_start()
                            .split(']')
                            .next()
                            .and_then(|n| n.trim().parse().ok())
                            .unwrap_or(0);
                    }
                }
                ("workers", "worker") => list.workers.push((pid, reloads)),
                ("old", "worker") => list.old_workers.push(pid),
                _ => {}
            }
        }
        list
    }
}

/// `show info` as key/value pairs.
pub fn parse_info(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The state of one backend from `show stat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    /// The BACKEND row's status (`UP`, `DOWN`, ...).
    pub status: String,
    pub servers: usize,
    pub servers_up: usize,
}

impl Backend {
    pub fn is_down(&self) -> bool {
        self.servers > 0 && self.servers_up == 0
    }
}

/// The backends in a `show stat` CSV, with how many of their servers are usable.
/// Server states that carry traffic: `UP`, `UP n/m` (going down), `no check`, `DRAIN`.
pub fn parse_backends(csv: &str) -> Vec<Backend> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(st)) = (col("pxname"), col("svname"), col("status")) else {
        return Vec::new();
    };
    let mut backends: Vec<Backend> = Vec::new();
    let mut servers: Vec<(String, bool)> = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(pxname), Some(svname), Some(status)) =
            (fields.get(px), fields.get(sv), fields.get(st))
        else {
            continue;
        };
        match *svname {
            "FRONTEND" => {}
            "BACKEND" => backends.push(Backend {
                name: pxname.to_string(),
                status: status.to_string(),
                servers: 0,
                servers_up: 0,
            }),
            _ => {
                let up = status.starts_with("UP") || *status == "no check" || *status == "DRAIN";
                servers.push((pxname.to_string(), up));
            }
        }
    }
    for b in &mut backends {
        for (px, up) in &servers {
            if *px == b.name {
                b.servers += 1;
                b.servers_up += usize::from(*up);
            }
        }
    }
    backends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_proc() {
        let text =
            "#<PID>          <type>          <reloads>       <uptime>        <version>      \n\
14063           master          2 [failed: 1]   0d00h00m01s     2.6.12-1+deb12u4\n\
# workers\n\
14064           worker          0               0d00h00m01s     2.6.12-1+deb12u4\n\
# old workers\n\
13990           worker          1               0d00h00m09s     2.6.12-1+deb12u4\n\
# programs\n\n";
        let p = ProcList::parse(text);
        assert_eq!(p.master_pid, Some(14063));
        assert_eq!(p.reloads, 2);
        assert_eq!(p.failed_reloads, 1);
        assert_eq!(p.workers, vec![(14064, 0)]);
        assert_eq!(p.old_workers, vec![13990]);
        assert_eq!(ProcList::parse("garbage\n\n"), ProcList::default());
    }

    #[test]
    fn show_stat() {
        let csv = "# pxname,svname,qcur,status,weight\n\
fe,FRONTEND,,OPEN,\n\
be,s1,0,DOWN,1\n\
be,s2,0,MAINT,1\n\
be,BACKEND,0,DOWN,0\n\
ok,s1,0,UP 1/3,1\n\
ok,BACKEND,0,UP,1\n\
empty,BACKEND,0,UP,0\n";
        let b = parse_backends(csv);
        assert_eq!(b.len(), 3);
        assert!(b[0].is_down());
        assert_eq!((b[0].servers, b[0].servers_up), (2, 0));
        assert!(!b[1].is_down());
        assert!(
            !b[2].is_down(),
            "a backend without servers is not counted as down"
        );
        assert!(parse_backends("").is_empty());
        assert!(parse_backends("nonsense\n1,2,3").is_empty());
    }

    #[test]
    fn show_info() {
        let info = parse_info("Name: HAProxy\nStopping: 0\nbroken line\n");
        assert!(info.contains(&("Stopping".into(), "0".into())));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "(?s).{0,600}") {
            let _ = ProcList::parse(&text);
            let _ = parse_info(&text);
            let _ = parse_backends(&text);
        }

        #[test]
        fn show_proc_round_trips(
            master in 1i32..100_000,
            reloads in 0u32..50,
            failed in 0u32..5,
            workers in proptest::collection::vec((1i32..100_000, 0u32..50), 0..4),
            old in proptest::collection::vec(1i32..100_000, 0..3),
        ) {
            let mut text = String::from("#<PID>          <type>          <reloads>       <uptime>        <version>\n");
            text.push_str(&format!("{master}          master          {reloads} [failed: {failed}]   0d00h00m01s     2.6.12\n# workers\n"));
            for (pid, r) in &workers {
                text.push_str(&format!("{pid}          worker          {r}               0d00h00m01s     2.6.12\n"));
            }
            text.push_str("# old workers\n");
            for pid in &old {
                text.push_str(&format!("{pid}          worker          1               0d00h00m09s     2.6.12\n"));
            }
            text.push_str("# programs\n\n");
            let p = ProcList::parse(&text);
            proptest::prop_assert_eq!(p.master_pid, Some(master));
            proptest::prop_assert_eq!((p.reloads, p.failed_reloads), (reloads, failed));
            proptest::prop_assert_eq!(p.workers, workers);
            proptest::prop_assert_eq!(p.old_workers, old);
        }

        #[test]
        fn show_stat_counts_servers(
            backends in proptest::collection::btree_map(
                "[a-z][a-z0-9_-]{0,10}",
                proptest::collection::vec(proptest::sample::select(vec!["UP", "DOWN", "MAINT", "no check", "UP 1/3", "DRAIN", "NOLB"]), 0..5),
                0..4,
            )
        ) {
            let mut csv = String::from("# pxname,svname,qcur,status,weight\n");
            for (name, servers) in &backends {
                for (i, st) in servers.iter().enumerate() {
                    csv.push_str(&format!("{name},s{i},0,{st},1\n"));
                }
                csv.push_str(&format!("{name},BACKEND,0,UP,1\n"));
            }
            let parsed = parse_backends(&csv);
            proptest::prop_assert_eq!(parsed.len(), backends.len());
            for b in &parsed {
                let servers = &backends[&b.name];
                let up = servers.iter().filter(|s| s.starts_with("UP") || **s == "no check" || **s == "DRAIN").count();
                proptest::prop_assert_eq!((b.servers, b.servers_up), (servers.len(), up));
            }
        }
    }
}
