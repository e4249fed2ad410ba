//! A loopback TCP proxy in front of the test Redis that a test can break on purpose.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Pass bytes both ways, like no proxy at all.
    Forward,
    /// Close every connection, old and new: Redis is down.
    Refuse,
    /// Keep connections open but never answer: Redis is hung.
    Hang,
}

/// The proxy; stops (closing every connection) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to the Redis at `redis_url` (`redis://host:port`, no credentials).
    pub async fn start(redis_url: &str) -> Self {
        let authority = redis_url
            .trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let upstream = tokio::net::lookup_host(&authority)
            .await
            .expect("resolve test Redis")
            .next()
            .expect("test Redis address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Forward);
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            mode.clone(),
            Arc::clone(&accepted),
        ));
        Self {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// The URL a limiter should use to reach Redis through this proxy.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Switches mode; existing connections follow at once.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections accepted so far: each is one connection attempt by a client.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Dropping the loop's JoinSet aborts every connection task with it.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        accepted.fetch_add(1, Ordering::SeqCst);
        connections.spawn(serve(client, upstream, mode.subscribe()));
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Refuse => return,
        Mode::Hang => {
            // Hold the socket silently until told otherwise, then close it.
            let _ = mode.wait_for(|m| *m != Mode::Hang).await;
            return;
        }
        Mode::Forward => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let hang = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        changed = mode.wait_for(|m| *m != Mode::Forward) => {
            matches!(changed.as_deref(), Ok(Mode::Hang))
        }
    };
    drop(server);
    if hang {
        // The client's socket stays open, unanswered, until the mode changes.
        let _ = mode.wait_for(|m| *m != Mode::Hang).await;
    }
}
