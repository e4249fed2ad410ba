//! The yardstick of scenario (c): Debian's nginx serving the very bytes UDAM
//! answered to the browse request, as a static file at the same path, with its
//! access log on (buffered, as a production nginx logs), two workers for two cores.
//!
//! It reuses how the gateway scenario finds and stops nginx (`gateway_parts.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Bytes;
use tokio::process::Command;

use super::gateway_parts::{Spawned, free_port};

/// The path both UDAM and nginx answer in scenario (c).
pub const BROWSE_PATH: &str = "/api/v1/listings";

/// A running nginx serving one static file.
pub struct StaticNginx {
    process: Spawned,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The file it serves at [`BROWSE_PATH`].
    file: PathBuf,
}

/// The nginx binary, if installed.
pub fn binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

impl StaticNginx {
    /// Starts nginx with its files (configuration, logs, the served file) in `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let nginx = binary().context(
            "nginx is not installed: scenario (c) compares with it (scripts/bench.sh \
             installs Debian's; --no-nginx leaves it out)",
        )?;
        let dir = dir.join("nginx-static");
        let root = dir.join("root");
        let file = root.join(BROWSE_PATH.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().context("the served file has a folder")?)?;
        std::fs::write(&file, b"{}")?;
        let port = free_port()?;
        let d = dir.display();
        // Keep-alive without a request cap, as the load generator (and wrk) expect;
        // the answer's type is UDAM's.
        let conf = format!(
            "worker_processes 2;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/nginx-error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
               access_log {d}/nginx-access.log combined buffer=64k flush=1s;\n\
               keepalive_requests 100000000;\n\
               keepalive_timeout 300s;\n\
               types {{ }}\n\
               default_type application/json;\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 root {};\n\
               }}\n\
             }}\n",
            root.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn().context("starting nginx")?;
        let pid = child.id().context("nginx exited at once")?;
        let process = Spawned { child, pid };
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
        Ok(Self {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            file,
        })
    }

    /// nginx's master process (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.process.pid
    }

    /// Serves `body` from now on, and checks that nginx answers exactly it.
    pub async fn serve(&self, body: &Bytes) -> anyhow::Result<()> {
        // Written aside and renamed, so nginx never reads half a file.
        let next = self.file.with_extension("next");
        std::fs::write(&next, body)?;
        std::fs::rename(&next, &self.file)?;
        let answer = super::requests::body_of(self.addr, BROWSE_PATH).await?;
        anyhow::ensure!(
            answer == *body,
            "nginx answered {} bytes, not the {} bytes UDAM answered",
            answer.len(),
            body.len()
        );
        Ok(())
    }

    /// Stops nginx.
    pub async fn stop(self) {
        self.process.stop().await;
    }
}
