//! HTTP endpoints on loopback. Hostile ones, for the tests that prove the agents' clients go
//! nowhere they were not told to: a [`Recorder`] (stands for "another host", or a proxy) that
//! notes every connection, and a [`Redirector`] that answers every request with a redirect to
//! it. And a [`Scripted`] one, keystone, nova and Masakari at once, for the order of an agent's
//! requests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Log = Arc<Mutex<Vec<String>>>;

/// Serves every connection on `listener` in a thread of its own: reads the request, notes its
/// first line in `log`, and writes what `answer` makes of that line.
fn serve(listener: TcpListener, log: Log, answer: impl Fn(&str) -> String + Send + Sync + 'static) {
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (log, answer) = (log.clone(), answer.clone());
            std::thread::spawn(move || handle(stream, &log, &*answer));
        }
    });
}

fn handle(mut stream: TcpStream, log: &Log, answer: &dyn Fn(&str) -> String) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = vec![0u8; 16 * 1024];
    let n = stream.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let first = text.lines().next().unwrap_or("(nothing)").to_string();
    let reply = answer(&first);
    log.lock().unwrap_or_else(|p| p.into_inner()).push(first);
    let _ = stream.write_all(reply.as_bytes());
}

fn bind() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    (listener, port)
}

/// Notes the first line of whatever reaches it and answers 502.
pub struct Recorder {
    pub port: u16,
    log: Log,
}

impl Recorder {
    pub fn start() -> Recorder {
        let (listener, port) = bind();
        let log: Log = Arc::default();
        serve(listener, log.clone(), |_| {
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
        });
        Recorder { port, log }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The first line of every request that reached it.
    pub fn seen(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Answers every request with `status` (307 unless set) and `Location: <to><path>`.
pub struct Redirector {
    pub port: u16,
    log: Log,
}

impl Redirector {
    pub fn start(status: u16, to: &str) -> Redirector {
        let (listener, port) = bind();
        let log: Log = Arc::default();
        let to = to.trim_end_matches('/').to_string();
        serve(listener, log.clone(), move |first| {
            let path = first.split_whitespace().nth(1).unwrap_or("/");
            format!(
                "HTTP/1.1 {status} Moved\r\nLocation: {to}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        });
        Redirector { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One answer of a [`Scripted`] endpoint: a request whose method is `method` and whose path
/// starts with `path` gets `status`, the `headers` lines (each ending in CRLF) and `body`;
/// `{base}` in either becomes the endpoint's URL.
pub struct Route {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// Answers each request by the first [`Route`] that matches it (404 otherwise) and notes its
/// first line, in the order they came.
pub struct Scripted {
    pub port: u16,
    log: Log,
}

impl Scripted {
    pub fn start(routes: Vec<Route>) -> Scripted {
        let (listener, port) = bind();
        let log: Log = Arc::default();
        let base = format!("http://127.0.0.1:{port}");
        serve(listener, log.clone(), move |first| {
            let mut words = first.split_whitespace();
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            match routes
                .iter()
                .find(|r| r.method == method && path.starts_with(&r.path))
            {
                Some(r) => {
                    let body = r.body.replace("{base}", &base);
                    format!(
                        "HTTP/1.1 {} Scripted\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        r.status,
                        r.headers.replace("{base}", &base),
                        body.len()
                    )
                }
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .into(),
            }
        });
        Scripted { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The first line of every request, in the order they came.
    pub fn seen(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The environment variables that would route a careless client through `proxy`.
pub fn proxy_env(proxy: &str) -> Vec<(&'static str, String)> {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .map(|k| (k, proxy.to_string()))
    .chain([("NO_PROXY", String::new()), ("no_proxy", String::new())])
    .collect()
}
