//! GCRA buckets shared through Redis, with a health state that decides when to fall back.
//!
//! The link is either up (a multiplexed connection every request clones) or
//! down (requests go to the local store, and a background probe reconnects no
//! sooner than `retry_interval` after the last failure). Only the transitions
//! are logged, so an outage costs one warning, not one per request.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};
use tokio::runtime::Handle;

use super::gcra::{self, Rate};
use super::{Decision, RateLimitError};

/// The GCRA step, run atomically inside Redis.
const GCRA_LUA: &str = include_str!("gcra.lua");

/// How the limiter talks to Redis. The defaults suit production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// Prepended to every bucket name to form the Redis key, so that several
    /// applications (or tests) can share one Redis. Default `udam:rl:`.
    pub key_prefix: String,
    /// Longest a single rate-limit call may take before the request is
    /// answered from local limits instead. Default 100 ms: a hung Redis must
    /// not stall requests.
    pub call_timeout: Duration,
    /// Longest a (background) connection attempt may take. Default 1 s.
    pub connect_timeout: Duration,
    /// Least time between reconnection attempts while Redis is away. Default 3 s.
    pub retry_interval: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            key_prefix: "udam:rl:".to_owned(),
            call_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(1),
            retry_interval: Duration::from_secs(3),
        }
    }
}

/// Redis-backed buckets plus the state of the link to Redis.
pub(crate) struct RedisStore {
    /// Holds the URL's credentials; never printed.
    client: Client,
    script: Script,
    options: RedisOptions,
    state: Mutex<State>,
    /// Where background reconnection runs; captured at start-up so that
    /// `check` does not depend on being polled inside a runtime context.
    runtime: Handle,
}

struct State {
    link: Link,
    /// Bumped on every reconnect, so a failure seen on an old connection
    /// cannot tear down (and re-announce) a newer one.
    generation: u64,
}

enum Link {
    Up {
        conn: MultiplexedConnection,
        generation: u64,
    },
    Down {
        retry_at: Instant,
        probing: bool,
    },
}

impl RedisStore {
    /// Parses `url` and tries to connect once. An unreachable Redis is not an
    /// error: the store starts down and keeps trying in the background.
    pub async fn start(url: &str, options: RedisOptions) -> Result<Arc<Self>, RateLimitError> {
        let client =
            Client::open(url).map_err(|e| RateLimitError::InvalidRedisUrl(e.to_string()))?;
        let runtime = Handle::try_current().map_err(|_| RateLimitError::NoRuntime)?;
        let store = Arc::new(Self {
            client,
            script: Script::new(GCRA_LUA),
            options,
            state: Mutex::new(State {
                link: Link::Down {
                    retry_at: Instant::now(),
                    probing: true,
                },
                generation: 0,
            }),
            runtime,
        });
        store.probe(Announce::FailureAsWarning).await;
        Ok(store)
    }

    /// Whether requests are currently decided by Redis.
    pub fn is_up(&self) -> bool {
        matches!(self.lock().link, Link::Up { .. })
    }

    /// One request against `bucket` in Redis; `None` when Redis is down or
    /// does not answer in time, in which case the caller decides locally.
    pub async fn check(self: &Arc<Self>, bucket: &str, rate: Rate) -> Option<Decision> {
        let (mut conn, generation) = self.connection()?;
        let key = format!("{}{bucket}", self.options.key_prefix);
        match tokio::time::timeout(self.options.call_timeout, self.run(&mut conn, &key, rate)).await
        {
            Ok(Ok((allowed, ahead_ns))) => Some(gcra::decision(allowed, ahead_ns, rate)),
            Ok(Err(e)) => {
                self.mark_down(generation, &e);
                None
            }
            Err(_) => {
                self.mark_down(
                    generation,
                    &format!("no answer within {:?}", self.options.call_timeout),
                );
                None
            }
        }
    }

    /// Runs the GCRA script: (allowed, nanoseconds from now to the new TAT).
    async fn run(
        &self,
        conn: &mut MultiplexedConnection,
        key: &str,
        rate: Rate,
    ) -> redis::RedisResult<(bool, u64)> {
        let mut call = self.script.prepare_invoke();
        call.key(key).arg(rate.interval_us()).arg(rate.burst);
        let (allowed, ahead_us): (i64, i64) = call.invoke_async(conn).await?;
        let ahead_ns = u64::try_from(ahead_us).unwrap_or(0).saturating_mul(1000);
        Ok((allowed == 1, ahead_ns))
    }

    /// The live connection, or `None` while down (starting a probe when one is due).
    fn connection(self: &Arc<Self>) -> Option<(MultiplexedConnection, u64)> {
        let mut state = self.lock();
        match &mut state.link {
            Link::Up { conn, generation } => Some((conn.clone(), *generation)),
            Link::Down { retry_at, probing } => {
                if !*probing && Instant::now() >= *retry_at {
                    *probing = true;
                    let this = Arc::clone(self);
                    // In the background: the request that noticed the retry
                    // is due must not wait for a connect to a dead host.
                    self.runtime
                        .spawn(async move { this.probe(Announce::FailureQuietly).await });
                }
                None
            }
        }
    }

    /// Connects and runs the script once; records the outcome as the new link state.
    async fn probe(&self, announce: Announce) {
        let outcome = match tokio::time::timeout(self.options.connect_timeout, self.open()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within {:?}",
                self.options.connect_timeout
            )),
        };
        let mut state = self.lock();
        match outcome {
            Ok(conn) => {
                state.generation += 1;
                state.link = Link::Up {
                    conn,
                    generation: state.generation,
                };
                drop(state);
                match announce {
                    Announce::FailureAsWarning => tracing::debug!("rate limiter: using Redis"),
                    Announce::FailureQuietly => {
                        tracing::info!(
                            "rate limiter: Redis answers again; limits are shared across processes"
                        )
                    }
                }
            }
            Err(error) => {
                state.link = Link::Down {
                    retry_at: Instant::now() + self.options.retry_interval,
                    probing: false,
                };
                drop(state);
                match announce {
                    Announce::FailureAsWarning => tracing::warn!(
                        %error,
                        "rate limiter: Redis unreachable at start-up; using in-process limits until it answers"
                    ),
                    // Still the same outage, already announced.
                    Announce::FailureQuietly => {
                        tracing::debug!(%error, "rate limiter: Redis still unreachable")
                    }
                }
            }
        }
    }

    /// A fresh connection, proven by running the script (which also loads it).
    async fn open(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.connect_timeout))
            .set_response_timeout(Some(self.options.call_timeout));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // A 1 µs quota: the probe key expires almost at once.
        let probe = Rate {
            interval_ns: 1000,
            burst: 1,
        };
        let key = format!("{}probe", self.options.key_prefix);
        self.run(&mut conn, &key, probe).await?;
        Ok(conn)
    }

    /// Records that the connection of `generation` failed, announcing the
    /// outage unless another request already did.
    fn mark_down(&self, generation: u64, error: &dyn fmt::Display) {
        let mut state = self.lock();
        if !matches!(state.link, Link::Up { generation: g, .. } if g == generation) {
            return;
        }
        state.link = Link::Down {
            retry_at: Instant::now() + self.options.retry_interval,
            probing: false,
        };
        drop(state);
        tracing::warn!(
            %error,
            retry_in = ?self.options.retry_interval,
            "rate limiter: lost Redis; using in-process limits until it answers again"
        );
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is replaced whole, never left half-written, so a poisoned
        // lock still guards a sound value.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for RedisStore {
    /// Leaves out the client: its connection info carries the Redis password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.options.key_prefix)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// How loudly a failed connection attempt is reported.
#[derive(Clone, Copy)]
enum Announce {
    /// The first attempt: a failure starts an outage, so warn.
    FailureAsWarning,
    /// A retry during a known outage: a failure is old news.
    FailureQuietly,
}
