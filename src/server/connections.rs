//! Serving HTTP/1.1 connections within limits, in place of `axum::serve`.
//!
//! `axum::serve` keeps a connection forever while its client dribbles (or never
//! finishes) a request head, and accepts without bound: 364 such connections under a
//! 256-descriptor limit made `/healthz` time out. Here:
//!
//! - a request head must arrive within `header_read_timeout`. hyper starts that timer
//!   whenever it waits for a head, so the same timeout also closes keep-alive
//!   connections left idle between requests;
//! - an answer the client stops reading is dropped after `write_stall_timeout`
//!   without progress (`stall`);
//! - at most `max_connections` are open. At the cap, the oldest connection that has
//!   never completed a request head is closed to make room (a slow or stalled client
//!   is the cheapest to lose); when every open connection has sent a request, the new
//!   one is closed at once. Requests already being served are never cut;
//! - running out of descriptors in `accept` backs off briefly instead of spinning.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tower::ServiceExt as _;

use super::stall::StallLimit;
use crate::telemetry::labels::ConnectionOutcome;

/// How long `accept` pauses after the process ran out of descriptors.
const EMFILE_BACKOFF: Duration = Duration::from_millis(50);

/// The limits one listener applies to its connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Longest wait for a complete request head (and for the next one on keep-alive).
    pub header_read_timeout: Duration,
    /// Longest a write of an answer may wait for the client to read
    /// (`server::stall::StallLimit`).
    pub write_stall_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// Most connections the `/metrics` listener keeps open: scrapers are few.
const METRICS_MAX_CONNECTIONS: usize = 32;

impl ConnectionLimits {
    /// The same timeouts with the small cap of the `/metrics` listener.
    pub fn for_metrics(self) -> Self {
        Self {
            max_connections: METRICS_MAX_CONNECTIONS.min(self.max_connections),
            ..self
        }
    }
}

/// One open connection, as the accept loop sees it.
struct Tracked {
    opened: Instant,
    /// Set once hyper has handed a complete request head to the app.
    sent_request: Arc<AtomicBool>,
    /// Closes the connection if it still has not sent a request.
    evict: oneshot::Sender<()>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Tracked>,
}

impl Registry {
    /// Makes room for one more connection if the cap allows or a connection that never
    /// sent a request can be closed; false when the newcomer must be refused.
    fn make_room(&mut self, cap: usize) -> bool {
        if self.open.len() < cap {
            return true;
        }
        let stalled = self
            .open
            .iter()
            .filter(|(_, c)| !c.sent_request.load(Ordering::Acquire))
            .min_by_key(|(_, c)| c.opened)
            .map(|(id, _)| *id);
        match stalled.and_then(|id| self.open.remove(&id)) {
            Some(victim) => {
                let _ = victim.evict.send(());
                metrics::counter!("udam_connections_total", "outcome" => ConnectionOutcome::Evicted.as_str()).increment(1);
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then lets
/// open requests finish (idle and stalled connections close at once) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    if is_out_of_descriptors(&err) {
                        tracing::warn!(error = %err, "out of file descriptors; raise the limit or lower --max-connections");
                        tokio::time::sleep(EMFILE_BACKOFF).await;
                    }
                    continue;
                }
            },
        };
        let sent_request = Arc::new(AtomicBool::new(false));
        let (evict_tx, evict_rx) = oneshot::channel();
        let id = {
            let mut reg = registry.lock().unwrap_or_else(PoisonError::into_inner);
            if !reg.make_room(limits.max_connections) {
                // Dropping the stream closes it: every slot is serving a real request.
                drop(stream);
                metrics::counter!("udam_connections_total", "outcome" => ConnectionOutcome::Refused.as_str()).increment(1);
                continue;
            }
            let id = reg.next_id;
            reg.next_id += 1;
            reg.open.insert(
                id,
                Tracked {
                    opened: Instant::now(),
                    sent_request: Arc::clone(&sent_request),
                    evict: evict_tx,
                },
            );
            id
        };
        let registry = Arc::clone(&registry);
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = Connection {
                stream,
                peer,
                router,
                limits,
                sent_request,
            };
            conn.run(evict_rx, stop).await;
            registry
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .open
                .remove(&id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Every connection task holds a receiver; this resolves when the last one ends.
    stop_tx.closed().await;
    Ok(())
}

fn is_out_of_descriptors(err: &std::io::Error) -> bool {
    // EMFILE (process) and ENFILE (system) on Linux and the BSDs.
    matches!(err.raw_os_error(), Some(23 | 24))
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    sent_request: Arc<AtomicBool>,
}

impl Connection {
    async fn run(self, mut evict: oneshot::Receiver<()>, mut stop: watch::Receiver<bool>) {
        let Self {
            stream,
            peer,
            router,
            limits,
            sent_request,
        } = self;
        let flag = Arc::clone(&sent_request);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            flag.store(true, Ordering::Release);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let stream = StallLimit::new(stream, limits.write_stall_timeout);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let mut evicted = false;
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = &mut evict, if !evicted => {
                    evicted = true;
                    if !sent_request.load(Ordering::Acquire) {
                        // Nothing in flight: dropping the connection closes it.
                        return;
                    }
                    // A request arrived after the accept loop chose this one: let it
                    // finish, then close.
                    conn.as_mut().graceful_shutdown();
                }
                _ = stop.wait_for(|stopped| *stopped), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(registry: &mut Registry, sent: bool) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let id = registry.next_id;
        registry.next_id += 1;
        registry.open.insert(
            id,
            Tracked {
                opened: Instant::now(),
                sent_request: Arc::new(AtomicBool::new(sent)),
                evict: tx,
            },
        );
        rx
    }

    #[test]
    fn at_the_cap_the_oldest_stalled_connection_makes_room() {
        let mut registry = Registry::default();
        let mut busy = tracked(&mut registry, true);
        let mut oldest_stalled = tracked(&mut registry, false);
        let mut newer_stalled = tracked(&mut registry, false);
        assert!(registry.make_room(4), "below the cap nothing is closed");
        assert!(registry.make_room(3));
        assert_eq!(registry.open.len(), 2);
        assert!(
            oldest_stalled.try_recv().is_ok(),
            "the oldest stalled one is evicted"
        );
        assert!(newer_stalled.try_recv().is_err());
        assert!(registry.make_room(2));
        assert!(newer_stalled.try_recv().is_ok());
        // Only a connection serving requests is left: the newcomer is refused.
        assert!(!registry.make_room(1));
        assert!(busy.try_recv().is_err());
    }
}
