//! How busy this process is serving requests, so that background work can step
//! aside while it is busy.
//!
//! Every request through the API router is counted while in progress, and adds its
//! duration to one counter when answered ([`crate::http::metrics::track`]). The time
//! spent in requests over a stretch of wall time, divided by that stretch, is the
//! average number of requests in progress (Little's law): about 1 for one client
//! buying as fast as it can, 0.01 for a request of 1 ms every 100 ms. The outbound
//! webhook worker reads it before each pass and waits while it is high
//! (docs/WEBHOOKS.md, "The worker steps aside for requests").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Time spent in requests, and the requests in progress now.
#[derive(Debug, Default)]
pub struct RequestLoad {
    /// Microseconds, summed over every request this process answered.
    busy_us: AtomicU64,
    in_flight: AtomicU64,
}

impl RequestLoad {
    /// Marks a request begun; it counts as in progress until the guard is finished
    /// or dropped (a request whose client went away).
    pub fn begin(&self) -> InProgress<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InProgress {
            load: self,
            started: Instant::now(),
        }
    }

    fn busy_us(&self) -> u64 {
        self.busy_us.load(Ordering::Relaxed)
    }

    fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// One request in progress (see [`RequestLoad::begin`]).
#[derive(Debug)]
pub struct InProgress<'a> {
    load: &'a RequestLoad,
    started: Instant,
}

impl InProgress<'_> {
    /// Ends the request: adds its duration to the load, and returns it.
    pub fn finish(self) -> Duration {
        let took = self.started.elapsed();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // A plain sum: readers only ever take differences of it.
        self.load.busy_us.fetch_add(micros, Ordering::Relaxed);
        took
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.load.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the requests of a stretch of time kept more than a share of the cores'
/// worth of them in progress on average.
#[derive(Clone, Debug)]
pub struct BusyTest {
    load: Arc<RequestLoad>,
    /// In progress on average, in quarters of a request, above which the process is
    /// busy.
    quarters: u64,
}

impl BusyTest {
    /// Busy above a quarter of a request in progress per core: 0.5 on 2 cores, where
    /// one client buying without pause (about 1) is busy and occasional requests are
    /// not; 4 on 16 cores, where that one client leaves most cores idle.
    pub fn quarter_per_core(load: Arc<RequestLoad>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            load,
            quarters: u64::try_from(cores).unwrap_or(1),
        }
    }

    /// Watches the requests over the next `window`; true when they kept the process
    /// busy.
    pub async fn over(&self, window: Duration) -> bool {
        let start = self.start();
        tokio::time::sleep(window).await;
        self.busy_since(&start)
    }

    /// Where a stretch of watching begins.
    fn start(&self) -> Reading {
        Reading {
            at: Instant::now(),
            busy_us: self.load.busy_us(),
        }
    }

    /// Whether the requests since `start` kept the process busy: those answered
    /// since, and those still in progress, counted as if they had run all along
    /// (so that requests stalled together, say behind a slow disk, still count).
    fn busy_since(&self, start: &Reading) -> bool {
        // At least 1 µs, so that a request in progress counts however soon this is.
        let elapsed = u64::try_from(start.at.elapsed().as_micros()).map_or(u64::MAX, |e| e.max(1));
        let answered = self.load.busy_us().saturating_sub(start.busy_us);
        let in_progress = self.load.in_flight().saturating_mul(elapsed);
        is_busy(answered.saturating_add(in_progress), elapsed, self.quarters)
    }
}

/// The counter and the clock where a stretch of watching began.
struct Reading {
    at: Instant,
    busy_us: u64,
}

/// True when `busy` microseconds in requests over `elapsed` microseconds average more
/// than `quarters` quarter-requests in progress. Integer arithmetic: `busy / elapsed >
/// quarters / 4`.
fn is_busy(busy: u64, elapsed: u64, quarters: u64) -> bool {
    u128::from(busy) * 4 > u128::from(elapsed) * u128::from(quarters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_without_pause_is_busy_on_two_cores_and_occasional_requests_are_not() {
        // 18 purchases of 1.1 ms in a 20 ms window: 0.99 in progress.
        assert!(is_busy(19_800, 20_000, 2));
        // One 2 ms request in the window: 0.1.
        assert!(!is_busy(2_000, 20_000, 2));
        // Exactly at the line is not busy; just past it is.
        assert!(!is_busy(10_000, 20_000, 2));
        assert!(is_busy(10_001, 20_000, 2));
        // On 16 cores one client leaves most of them idle.
        assert!(!is_busy(19_800, 20_000, 16));
    }

    /// A load and its test as on 2 cores.
    fn on_two_cores() -> (Arc<RequestLoad>, BusyTest) {
        let load = Arc::new(RequestLoad::default());
        let test = BusyTest {
            load: load.clone(),
            quarters: 2,
        };
        (load, test)
    }

    #[test]
    fn requests_answered_since_the_start_count_and_earlier_ones_do_not() {
        let (load, test) = on_two_cores();
        let earlier = load.begin();
        earlier.finish();
        let start = test.start();
        assert!(!test.busy_since(&start), "answered before the start");
        load.busy_us.fetch_add(60_000_000, Ordering::Relaxed);
        assert!(test.busy_since(&start), "answered since");
    }

    #[test]
    fn a_request_in_progress_counts_until_it_ends_even_if_abandoned() {
        let (load, test) = on_two_cores();
        let start = test.start();
        let request = load.begin();
        assert!(test.busy_since(&start), "in progress");
        // A client that went away: the guard is dropped without finishing.
        drop(request);
        assert_eq!(load.in_flight(), 0);
        assert_eq!(load.busy_us(), 0);
        assert!(!test.busy_since(&test.start()));
    }
}
