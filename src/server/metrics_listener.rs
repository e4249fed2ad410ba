//! The `/metrics` listener (`--metrics-bind`): the router of [`crate::http::metrics`]
//! served on its own port, with the recorder's upkeep running beside it.

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::connections::ConnectionLimits;
use crate::db::Db;
use crate::http::metrics;

/// Serves `/metrics` on `listener` until `stop` turns true, running the
/// recorder's upkeep meanwhile.
pub async fn serve(
    listener: TcpListener,
    limits: ConnectionLimits,
    handle: PrometheusHandle,
    db: Db,
    mut stop: watch::Receiver<bool>,
) {
    let app = metrics::router(handle.clone(), db);
    let upkeep = async {
        let mut every = tokio::time::interval(metrics::UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    };
    let serving = super::connections::serve(listener, app, limits, async move {
        // A dropped sender means the server is gone: stop as well.
        let _ = stop.wait_for(|stopped| *stopped).await;
    });
    // The upkeep loop never ends; serving ends on `stop`, and takes it along.
    tokio::select! {
        result = serving => {
            if let Err(err) = result {
                tracing::error!(error = %err, "the metrics listener failed");
            }
        }
        () = upkeep => {}
    }
}
