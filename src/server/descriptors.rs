//! The descriptor limit: raised to the hard limit at start, and the connection cap
//! fitted under it, so that a connection flood meets our cap before `EMFILE`.

use super::connections::ConnectionLimits;
use crate::config::Config;

/// Descriptors kept for everything that is not a client connection: the database
/// pool, the SQLite files, the listeners (API, metrics, gateway), Redis, logs,
/// outgoing HTTPS (Stripe, webhook deliveries, gateway upstreams). 128 left a
/// slow-header flood at the 512-descriptor test limit once the gateway and the
/// webhook worker were in the same process.
pub const RESERVED_DESCRIPTORS: u64 = 192;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limits to serve
/// with: `--max-connections`, lowered (with a warning) to fit the descriptors left.
pub fn connection_limits(config: &Config) -> ConnectionLimits {
    let wanted = config.max_connections.max(1);
    let max_connections = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => {
            let fits = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(1))
                .unwrap_or(usize::MAX);
            if fits < wanted {
                tracing::warn!(
                    descriptor_limit = soft,
                    max_connections = fits,
                    "--max-connections lowered to fit the descriptor limit; raise `ulimit -n` to allow more"
                );
            }
            wanted.min(fits)
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot read or raise the descriptor limit");
            wanted
        }
    };
    ConnectionLimits {
        header_read_timeout: config.header_read_timeout.0,
        write_stall_timeout: config.write_stall_timeout.0,
        max_connections,
    }
}
