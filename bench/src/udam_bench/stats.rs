//! Latency samples and the figures the report shows.

use std::time::Duration;

/// Latencies of the successful operations of one measured window.
#[derive(Default)]
pub struct Samples {
    sorted_us: Vec<u32>,
    window: Duration,
}

impl Samples {
    /// Sorts `latencies_us`, gathered over `window`.
    pub fn new(mut latencies_us: Vec<u32>, window: Duration) -> Self {
        latencies_us.sort_unstable();
        Self {
            sorted_us: latencies_us,
            window,
        }
    }

    /// Successes per second over the window.
    pub fn per_second(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.sorted_us.len() as f64 / secs
        } else {
            0.0
        }
    }

    /// The `q`-quantile (0..=1) in milliseconds, nearest rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.sorted_us.is_empty() {
            return 0.0;
        }
        let n = self.sorted_us.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        f64::from(self.sorted_us[rank - 1]) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s = Samples::new(
            (1..=100).rev().map(|ms| ms * 1000).collect(),
            Duration::from_secs(2),
        );
        assert_eq!(s.per_second(), 50.0);
        assert_eq!(s.quantile_ms(0.5), 50.0);
        assert_eq!(s.quantile_ms(0.99), 99.0);
        assert_eq!(s.quantile_ms(1.0), 100.0);
        assert_eq!(Samples::default().quantile_ms(0.5), 0.0);
    }
}
