//! The gateway tests' parts: a real upstream HTTP server that records what it
//! received, and a UDAM server with its gateway listener.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use udam::server::Server;

use crate::common::{Backend, Client, ListingId, TestDb, test_config};

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// Path and query.
    pub target: String,
    /// Every header, lowercase names.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP server standing in for a seller's API.
///
/// `/status/{code}` answers that status, `/slow` answers after 5 s, `/echo` streams
/// the request body back, `/whoami` prints the request's headers and query (as a
/// careless error page does; `?chunked` sends them in small pieces, one every few
/// milliseconds, `Content-Length` otherwise; `?compressed` labels them
/// `Content-Encoding: gzip`, as an upstream that compresses whatever it is asked does), `/redirect` answers 301 to the same path with a `/` added
/// and the query kept (as Django's trailing-slash redirect does); anything else
/// answers 200 with a small JSON body.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
    _stop: oneshot::Sender<()>,
}

impl Upstream {
    /// Starts one on a free port.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/status/{code}", axum::routing::any(status))
            .route("/v1/slow", axum::routing::any(slow))
            .route("/v1/echo", axum::routing::any(echo))
            .route("/v1/whoami", axum::routing::any(whoami))
            .route("/v1/redirect", axum::routing::any(redirect))
            .fallback(ok)
            .layer(axum::middleware::from_fn_with_state(
                received.clone(),
                record,
            ))
            .with_state(());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            received,
            _stop: tx,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

async fn record(
    State(log): State<Arc<Mutex<Vec<Received>>>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    log.lock().unwrap().push(Received { target, headers });
    next.run(request).await
}

async fn ok() -> Response {
    axum::Json(json!({"temperature": 21})).into_response()
}

async fn status(Path(code): Path<u16>) -> Response {
    (StatusCode::from_u16(code).unwrap(), "upstream says so").into_response()
}

async fn slow() -> Response {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late".into_response()
}

async fn redirect(request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default();
    let location = format!("/v1/redirect/?{query}");
    (
        StatusCode::MOVED_PERMANENTLY,
        [
            (axum::http::header::LOCATION, location.clone()),
            (axum::http::header::CONTENT_LOCATION, location),
        ],
    )
        .into_response()
}

async fn whoami(request: Request) -> Response {
    let printed = format!(
        "{{\"query\": {:?}, \"headers\": {:?}}}",
        request.uri().query().unwrap_or_default(),
        request.headers()
    );
    let query = request.uri().query().unwrap_or_default();
    if query.contains("compressed") {
        // The label is what the gateway must act on; the bytes need not be gzip.
        return ([(axum::http::header::CONTENT_ENCODING, "gzip")], printed).into_response();
    }
    if !query.contains("chunked") {
        return printed.into_response();
    }
    // Pieces of 7 bytes, so that the key is cut across several of them.
    let pieces: Vec<Vec<u8>> = printed.as_bytes().chunks(7).map(<[u8]>::to_vec).collect();
    let stream = futures::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok::<_, std::convert::Infallible>(piece)
    });
    Response::new(Body::from_stream(stream))
}

async fn echo(request: Request) -> Response {
    Response::new(Body::new(request.into_body()))
}

/// A UDAM server with its gateway listener, on a fresh database.
pub struct GatewayApp {
    /// The API.
    pub api: Client,
    /// The gateway, e.g. `http://127.0.0.1:PORT`.
    pub gateway: String,
    /// The database stays while the test runs.
    pub db: Option<TestDb>,
    stop: Option<oneshot::Sender<()>>,
}

/// The flags every gateway test server gets: local upstreams allowed.
pub const LOCAL_UPSTREAMS: [&str; 4] = [
    "--gateway-bind",
    "127.0.0.1:0",
    "--gateway-allow-http",
    "--gateway-allow-private",
];

impl GatewayApp {
    /// Starts a server allowing local upstreams, plus `extra` flags.
    pub async fn spawn(backend: Backend, extra: &[&str]) -> Self {
        Self::spawn_on(TestDb::new(backend).await, extra).await
    }

    /// Starts a server on an existing database.
    pub async fn spawn_on(db: TestDb, extra: &[&str]) -> Self {
        let mut flags = LOCAL_UPSTREAMS.to_vec();
        flags.extend_from_slice(extra);
        let config = test_config(&db.url, &flags);
        let server = Server::bind(config).await.expect("server starts");
        let api = Client::new(format!("http://{}", server.local_addr().unwrap()));
        let gateway = format!("http://{}", server.gateway_addr().expect("gateway listens"));
        let (tx, rx) = oneshot::channel();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Self {
            api,
            gateway,
            db: Some(db),
            stop: Some(tx),
        }
    }
}

impl Drop for GatewayApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A gateway listing body: 100 cents per unit, `requests_per_unit` requests each.
pub fn gateway_listing(upstream: &str, requests_per_unit: i64, meter: &str) -> Value {
    json!({
        "service_name": "Weather gateway",
        "description": "metered",
        "unit_description": "per 10 requests",
        "price_cents": 100,
        "currency": "usd",
        "available_units": 1000,
        "api_key": SELLER_KEY,
        "delivery": "gateway",
        "gateway": {
            "upstream_base_url": format!("{upstream}/v1"),
            "requests_per_unit": requests_per_unit,
            "meter": meter,
        },
    })
}

/// A gateway listing body with extra `gateway` settings merged in.
pub fn listing_with(upstream: &str, per_unit: i64, meter: &str, extra: Value) -> Value {
    let mut body = gateway_listing(upstream, per_unit, meter);
    for (k, v) in extra.as_object().unwrap() {
        body["gateway"][k] = v.clone();
    }
    body
}

/// The seller's key every gateway test listing holds.
pub const SELLER_KEY: &str = "sk_live_seller_secret_0123456789";

/// Orders `units` of a gateway listing (asserting 201) and returns the buyer's key
/// when the order's answer shows it (the first order of the listing).
pub async fn buy(api: &Client, buyer: &str, listing: &str, units: i64) -> Option<String> {
    let r = crate::common::order(api, buyer, listing, units).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["gateway"]["gateway_key"].as_str().map(str::to_owned)
}

/// A seller's gateway listing (100 requests a unit, every answer metered) of which
/// a buyer bought one unit.
pub struct Bought {
    pub seller: String,
    pub buyer: String,
    pub listing: ListingId,
    /// The buyer's key, as the order's answer showed it.
    pub key: String,
}

/// Signs up a seller and a buyer on `app`, lists a gateway listing of `upstream` and
/// buys one unit of it.
pub async fn one_unit_bought(app: &GatewayApp, upstream: &Upstream) -> Bought {
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let body = gateway_listing(&upstream.base, 100, "all");
    let listing = crate::common::create_listing(&app.api, &seller, &body).await;
    let key = buy(&app.api, &buyer, &listing, 1)
        .await
        .expect("the first order shows the key");
    Bought {
        seller,
        buyer,
        listing,
        key,
    }
}

/// Reads the buyer's first gateway token: (grant id, full key if shown, hint).
pub async fn first_token(api: &Client, buyer: &str) -> (String, Option<String>, Value) {
    let r = api.get("/api/v1/tokens", Some(buyer)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let item = r.body["items"][0].clone();
    (
        item["id"].as_str().unwrap().to_owned(),
        item["gateway_key"].as_str().map(str::to_owned),
        item,
    )
}

/// Calls the gateway with a buyer key; returns (status, error code, body text).
pub async fn call(
    http: &reqwest::Client,
    gateway: &str,
    listing: &str,
    path: &str,
    key: &str,
) -> (u16, String, String) {
    let r = http
        .get(format!("{gateway}/{listing}/{path}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("gateway answers");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code, text)
}

/// Calls with `key` until the gateway answers `refusal` (401 `gateway_key_invalid`
/// or 402 `allowance_exhausted`), failing if that takes a second or more (revokes
/// and rolls reach every process within the route cache's lifetime); returns how
/// many calls were served meanwhile. A 402 on the way to a 401 is a refusal too
/// (a revoked key's leases are returned before its route is read again).
pub async fn refused_within_a_second(
    http: &reqwest::Client,
    gateway: &str,
    listing: &str,
    key: &str,
    refusal: u16,
) -> usize {
    let started = std::time::Instant::now();
    let mut served = 0;
    loop {
        let (status, code, _) = call(http, gateway, listing, "x", key).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not refused within a second: {status} {code}"
        );
        match status {
            s if s == refusal => {
                let expected = if s == 401 {
                    "gateway_key_invalid"
                } else {
                    "allowance_exhausted"
                };
                assert_eq!(code, expected);
                return served;
            }
            200 => served += 1,
            402 => {}
            other => panic!("unexpected {other} {code}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `check` every 20 ms until it holds, failing after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request body fed chunk by chunk from a channel: never whole in memory.
pub struct ChannelBody(pub tokio::sync::mpsc::Receiver<Vec<u8>>);

impl hyper::body::Body for ChannelBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(hyper::body::Frame::data(c.into()))))
    }
}
