//! Shared pieces of the haproxy agent tests: instances with their own state directory and
//! loopback ports, a tiny HTTP backend, and a client.

#![allow(dead_code)]

use oxha_harness::{run_env, Run};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A loopback port nobody listens on right now (other helpers test on this machine too).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// An HTTP backend on a loopback port: answers every request with `200 ok`.
pub struct Backend {
    pub port: u16,
    stop: Arc<AtomicBool>,
    pub served: Arc<AtomicUsize>,
}

impl Backend {
    pub fn start() -> Backend {
        Backend::with_delay(Duration::ZERO)
    }

    /// A backend that takes `delay` to answer (a request in flight for that long).
    pub fn with_delay(delay: Duration) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = listener.local_addr().expect("backend address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (stop2, served2) = (stop.clone(), served.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let served = served2.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    // Counted before the answer is written: a client that got its answer may
                    // read the counter at once, and must find its request in it.
                    served.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(delay);
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                });
            }
        });
        Backend { port, stop, served }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One GET through haproxy: `Ok(status line)` or what went wrong.
pub fn get(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let status = answer.lines().next().unwrap_or("").to_string();
    if status.contains(" 200 ") && answer.ends_with("ok") {
        Ok(status)
    } else {
        Err(format!("answer: {status:?}"))
    }
}

/// A haproxy configuration: one HTTP frontend on `port`, one backend server on `backend`.
pub fn http_config(port: u16, backend: u16) -> String {
    format!(
        "global\n    hard-stop-after 10s\n\
defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{backend} check inter 200ms fall 1 rise 1\n"
    )
}

/// One resource instance: a name, a state directory (its `HA_RSCTMP`) and configuration files.
pub struct Instance {
    pub name: String,
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub port: u16,
    pub params: Vec<(String, String)>,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl Instance {
    pub fn new(tag: &str, config: &str) -> Instance {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("oxha-hap-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rt")).expect("state dir");
        let conf = dir.join(format!("{tag}.cfg"));
        std::fs::write(&conf, config).expect("write config");
        Instance {
            name: format!("{tag}{n}"),
            dir,
            conf,
            port: 0,
            params: Vec::new(),
        }
    }

    /// An instance with an HTTP frontend on a fresh port in front of `backend`.
    pub fn http(tag: &str, backend: u16) -> Instance {
        let port = free_port();
        let mut i = Instance::new(tag, &http_config(port, backend));
        i.port = port;
        i
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.params.retain(|(k, _)| k != key);
        self.params.push((key.into(), value.into()));
    }

    pub fn state(&self, suffix: &str) -> PathBuf {
        self.dir
            .join("rt")
            .join(format!("haproxy-{}{suffix}", self.name))
    }

    /// Runs the staged agent. `extra` adds or overrides environment variables.
    pub fn run(&self, action: &str, extra: &[(&str, &str)]) -> Run {
        let agent = oxha_harness::ocf_agent("haproxy");
        let rt = self.dir.join("rt");
        let conf = self.conf.to_string_lossy().into_owned();
        let mut env: Vec<(String, String)> = vec![
            ("OCF_ROOT".into(), "/usr/lib/ocf".into()),
            ("OCF_RESOURCE_INSTANCE".into(), self.name.clone()),
            ("HA_RSCTMP".into(), rt.to_string_lossy().into_owned()),
            ("OCF_RESKEY_conffile".into(), conf),
            ("OCF_RESKEY_CRM_meta_timeout".into(), "20000".into()),
        ];
        if action == "monitor" {
            // A recurring monitor unless the test asks for a probe.
            env.push(("OCF_RESKEY_CRM_meta_interval".into(), "10000".into()));
        }
        for (k, v) in &self.params {
            env.push((format!("OCF_RESKEY_{k}"), v.clone()));
        }
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let agent = agent.to_string_lossy().into_owned();
        run_env(&[agent.as_str(), action], &refs, None)
    }

    /// A probe: a monitor without an interval.
    pub fn probe(&self) -> Run {
        self.run("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")])
    }

    pub fn master_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.state(".pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn show_proc(&self) -> Result<haproxy::cli::ProcList, String> {
        haproxy::cli::command(
            &self.state(".master.sock"),
            "show proc",
            Duration::from_secs(5),
        )
        .map(|t| haproxy::cli::ProcList::parse(&t))
    }

    /// Processes of this instance still alive.
    pub fn processes(&self) -> Vec<i32> {
        haproxy::process::instance_processes(&self.state(".cfg.d").to_string_lossy())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.run("stop", &[]);
        for pid in self.processes() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The exit reason an agent run printed.
pub fn exit_reason(run: &Run) -> String {
    run.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("ocf-exit-reason:"))
        .next_back()
        .unwrap_or("")
        .to_string()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
