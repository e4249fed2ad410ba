//! The pieces of the gateway scenario (`--gateway`): a minimal upstream (this binary
//! run with `--gateway-upstream ADDR`, so its CPU time is its own), `udam serve` with
//! its gateway listener, and Debian's nginx as a reverse proxy to the same upstream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// The upstream's answer to every call: a small fixed JSON body.
pub const UPSTREAM_BODY: &[u8] = br#"{"temperature":21,"unit":"C","city":"Oslo"}"#;

/// The path that answers how many requests the upstream has served (not counted).
pub const COUNT_PATH: &str = "/__count";

/// Serves [`UPSTREAM_BODY`] on `addr` until killed (the `--gateway-upstream` mode).
pub async fn serve_upstream(addr: &str) -> anyhow::Result<bool> {
    let listener = TcpListener::bind(addr).await?;
    println!("upstream listening on {}", listener.local_addr()?);
    let served = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let served = served.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let served = served.clone();
                    async move {
                        let body = if request.uri().path() == COUNT_PATH {
                            Bytes::from(served.load(Ordering::Relaxed).to_string())
                        } else {
                            served.fetch_add(1, Ordering::Relaxed);
                            Bytes::from_static(UPSTREAM_BODY)
                        };
                        let mut response = Response::new(Full::new(body));
                        response
                            .headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        Ok::<_, Infallible>(response)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A child process, killed when dropped, with its first stdout line's address.
pub struct Spawned {
    /// The child.
    pub child: Child,
    /// Its process id.
    pub pid: u32,
}

impl Spawned {
    /// Stops it with SIGTERM and waits (SIGKILL after 15 s).
    pub async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Starts `command` and waits (60 s at most) for a stdout line starting with
/// `prefix`; returns the child and the rest of that line.
async fn start_until(mut command: Command, prefix: &str) -> anyhow::Result<(Spawned, String)> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().context("starting a bench process")?;
    let pid = child.id().context("the process exited at once")?;
    let out = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(out).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(rest.trim().to_owned());
            }
        }
        anyhow::bail!("the process exited before saying `{prefix}`")
    };
    let rest = tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .context("no start within 60 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((Spawned { child, pid }, rest))
}

/// Starts the upstream: this binary in `--gateway-upstream` mode.
pub async fn start_upstream() -> anyhow::Result<(Spawned, SocketAddr)> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--gateway-upstream", "127.0.0.1:0"]);
    let (spawned, addr) = start_until(command, "upstream listening on ").await?;
    Ok((spawned, addr.parse()?))
}

/// A port free right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `udam serve` with its gateway on `gateway_port`, allowed to reach the
/// local upstream; returns it and its API address.
pub async fn start_udam(
    binary: &Path,
    db_url: &str,
    master_keys: &str,
    gateway_port: u16,
    log_file: &Path,
) -> anyhow::Result<(Spawned, SocketAddr)> {
    let log = std::fs::File::create(log_file)?;
    let mut command = Command::new(binary);
    command
        .args(["--bind", "127.0.0.1:0"])
        .env("UDAM_DATABASE_URL", db_url)
        .env("UDAM_MASTER_KEYS", master_keys)
        .env("UDAM_GATEWAY_BIND", format!("127.0.0.1:{gateway_port}"))
        .env("UDAM_GATEWAY_ALLOW_HTTP", "true")
        .env("UDAM_GATEWAY_ALLOW_PRIVATE", "true")
        .env_remove("RUST_LOG")
        .arg("serve")
        .stderr(Stdio::from(log));
    for (k, v) in super::server::SERVER_SETTINGS {
        command.env(k, v);
    }
    let (spawned, addr) = start_until(command, "udam listening on http://").await?;
    Ok((spawned, addr.parse()?))
}

/// Starts nginx (two workers, access log on and buffered, keep-alive to the
/// upstream, the seller key injected as the gateway does) on `port`.
pub async fn start_nginx(dir: &Path, port: u16, upstream: SocketAddr) -> anyhow::Result<Spawned> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("nginx is not installed (scripts/bench.sh installs Debian's)")?;
    let d = dir.display();
    let conf = format!(
        "worker_processes 2;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           access_log {d}/nginx-access.log combined buffer=64k flush=1s;\n\
           upstream up {{ server {upstream}; keepalive 128; }}\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             location / {{\n\
               proxy_pass http://up;\n\
               proxy_http_version 1.1;\n\
               proxy_set_header Connection \"\";\n\
               proxy_set_header Authorization \"Bearer sk_bench_seller_key\";\n\
               proxy_redirect off;\n\
             }}\n\
           }}\n\
         }}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut command = Command::new(nginx);
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let child = command.spawn().context("starting nginx")?;
    let pid = child.id().context("nginx exited at once")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "nginx did not listen within 10 s; see {d}/nginx-error.log"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Spawned { child, pid })
}

/// CPU ticks (user + system) of a process.
pub fn ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// CPU ticks of a process and its children (nginx's master and workers).
pub fn tree_ticks(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return ticks(pid);
    };
    let children: u64 = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| name.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                })
                == Some(pid)
        })
        .map(ticks)
        .sum();
    ticks(pid) + children
}

/// CPU ticks of every `postgres` process.
pub fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| name.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(ticks)
        .sum()
}
