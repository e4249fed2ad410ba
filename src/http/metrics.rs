//! Prometheus metrics: the process-wide recorder, the per-request middleware,
//! and the router of the separate `/metrics` listener (`--metrics-bind`), which
//! `server` runs beside the public one.
//!
//! The listener is separate so that the public port never exposes internals
//! and the scrape address can stay on a private interface. Metric names are
//! listed in `docs/OPERATIONS.md`; label values come from the enums of
//! [`crate::telemetry::labels`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::MetricsBind;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::load::RequestLoad;
use crate::telemetry::labels::PoolState;

/// Counter of answered requests, labelled `route`, `method`, `status`.
pub const HTTP_REQUESTS: &str = "udam_http_requests_total";
/// Histogram of request latency in seconds, labelled `route`, `method`.
pub const HTTP_DURATION: &str = "udam_http_request_duration_seconds";
/// Gauge of database pool connections, labelled `state` = `idle` | `used`.
pub const DB_POOL: &str = "udam_db_pool_connections";

/// Latency buckets, in seconds: from a cached read to a slow password hash.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histograms are folded even when nobody scrapes, so memory stays bounded.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The route label of requests that matched no route. Raw paths never become
/// labels: each distinct path would be a new time series.
const UNMATCHED: &str = "unmatched";

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder's handle, installing the recorder on first use.
///
/// Installing twice would fail, and several servers may run in one process
/// (tests do), so the recorder is installed once and its handle shared. If
/// some other recorder was installed first, metrics go there and this handle
/// renders only what it saw; that is logged once.
pub fn recorder() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), DURATION_BUCKETS)
            {
                Ok(with_buckets) => with_buckets,
                // Only an empty bucket list fails; ours is a constant, so this is unreachable.
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder is installed; /metrics will be incomplete"
                );
            }
            describe();
            handle
        })
        .clone()
}

/// HELP lines for the metrics this module emits.
fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by matched route, method and status"
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by matched route and method"
    );
    metrics::describe_gauge!(
        DB_POOL,
        "Database pool connections, idle or in use, sampled at scrape time"
    );
    metrics::describe_counter!(
        crate::ratelimit::RATE_LIMITED_METRIC,
        "Requests denied by a rate limit, by bucket kind"
    );
    metrics::describe_counter!(
        crate::maintenance::PURGED_METRIC,
        "Expired rows deleted by the periodic purge, by table"
    );
}

/// Middleware: counts each request and records its latency, labelled by the
/// matched route (the template, e.g. `/api/v1/listings/{id}`), and adds the latency
/// to the process's request load (`load`), which background work steps aside for.
pub async fn track(State(load): State<Arc<RequestLoad>>, request: Request, next: Next) -> Response {
    let in_progress = load.begin();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    let took = in_progress.finish();
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
        .record(took.as_secs_f64());
    response
}

/// A bounded label for a method: clients may invent methods, series may not grow.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Binds the metrics listener, or returns `None` when `--metrics-bind off`.
/// Binding happens at start-up so that a taken port stops the server with a
/// message naming the flag.
pub async fn bind(at: MetricsBind) -> anyhow::Result<Option<TcpListener>> {
    let MetricsBind::Addr(addr) = at else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} for metrics (--metrics-bind / UDAM_METRICS_BIND)")
    })?;
    Ok(Some(listener))
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    db: Db,
}

/// The metrics listener's router: `GET /metrics`, everything else 404.
pub fn router(handle: PrometheusHandle, db: Db) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { ApiError::not_found("route") })
        .with_state(Scrape { handle, db })
}

/// Samples the pool, then renders every metric in the Prometheus text format.
async fn scrape(State(scrape): State<Scrape>) -> Response {
    let pool = scrape.db.pool();
    let size = f64::from(pool.size());
    // num_idle is a usize; a pool never holds anywhere near 2^53 connections.
    let idle = pool.num_idle() as f64;
    metrics::gauge!(DB_POOL, "state" => PoolState::Idle.as_str()).set(idle);
    metrics::gauge!(DB_POOL, "state" => PoolState::Used.as_str()).set((size - idle).max(0.0));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let custom = Method::from_bytes(b"BREW").expect("valid token");
        assert_eq!(method_label(&custom), "other");
    }
}
