//! Where the Prometheus metrics listener binds: an address, or `off` for no
//! listener and no recorder at all.

use std::net::SocketAddr;
use std::str::FromStr;

/// Where the metrics listener binds, if anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsBind {
    /// No metrics listener and no recorder: metric calls cost nothing.
    Off,
    /// Listen on this address (`127.0.0.1:0` picks a free port).
    Addr(SocketAddr),
}

impl FromStr for MetricsBind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse()
            .map(Self::Addr)
            .map_err(|_| format!("`{s}` is neither `off` nor an address like 127.0.0.1:9090"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_bind_is_an_address_or_off() {
        assert_eq!("off".parse::<MetricsBind>(), Ok(MetricsBind::Off));
        assert_eq!(" OFF ".parse::<MetricsBind>(), Ok(MetricsBind::Off));
        assert_eq!(
            "127.0.0.1:9090".parse::<MetricsBind>(),
            Ok(MetricsBind::Addr("127.0.0.1:9090".parse().unwrap()))
        );
        assert!("9090".parse::<MetricsBind>().is_err());
        assert!("localhost:9090".parse::<MetricsBind>().is_err());
    }
}
