//! The edge settings (`config::edge`): rate limits, client addresses, metrics, CORS, header limit,
//! security headers and the purge task.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::process::ServerProcess;
use crate::common::{Backend, Client, Resp, TestApp, TestDb};

crate::dual_backend_tests!(
    burst_is_denied_exactly_past_the_quota,
    login_is_limited_per_email_across_addresses,
    forwarded_for_counts_only_from_trusted_proxies,
    order_creation_is_limited_per_user_not_per_session,
    replicas_share_one_budget_through_redis,
    waiting_retry_after_is_enough,
    metrics_listener_reports_requests_and_pool,
    cors_is_off_by_default_and_exact_when_configured,
    oversized_headers_get_431_and_security_headers_are_everywhere,
    oversized_login_body_is_413_even_when_chunked,
    purge_deletes_expired_sessions_and_old_idempotency_keys,
);

/// GET `path` with extra headers.
async fn get_with(client: &Client, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut request = client.http.get(format!("{}{path}", client.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client.send(request).await
}

/// POST a JSON login from the client address `ip` (through a trusted proxy).
async fn login_from(client: &Client, ip: &str, email: &str, password: &str) -> Resp {
    let request = client
        .http
        .post(format!("{}/api/v1/auth/login", client.base))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}));
    client.send(request).await
}

fn header_u64(r: &Resp, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("{name} missing: {:?}", r.headers))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// The rejection a client sees: 429, the envelope, and every rate-limit header.
fn assert_rate_limited(r: &Resp, limit: u64) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.error_code(), "rate_limited");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("retry in")),
        "{:?}",
        r.body
    );
    assert!(header_u64(r, "retry-after") >= 1);
    assert_eq!(header_u64(r, "ratelimit-limit"), limit);
    assert_eq!(header_u64(r, "ratelimit-remaining"), 0);
    assert!(header_u64(r, "ratelimit-reset") >= header_u64(r, "retry-after"));
}

async fn burst_is_denied_exactly_past_the_quota(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--rate-limit-ip", "5/min"]).await;
    for left in (0..5).rev() {
        let r = app.get("/healthz", None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(header_u64(&r, "ratelimit-limit"), 5);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), left);
        assert!(r.header("retry-after").is_none());
    }
    let denied = app.get("/healthz", None).await;
    assert_rate_limited(&denied, 5);
    // Five a minute: one request's budget comes back every 12 s.
    let wait = header_u64(&denied, "retry-after");
    assert!((11..=12).contains(&wait), "Retry-After {wait}");
    assert_eq!(denied.header("content-type"), Some("application/json"));
    assert!(denied.header("x-request-id").is_some());
    // Every route shares the client's budget, unknown ones and API routes alike.
    assert_rate_limited(&app.get("/no/such/route", None).await, 5);
    assert_rate_limited(
        &app.post(
            "/api/v1/auth/register",
            &json!({"email": "x@example.com", "password": "12345678"}),
            None,
        )
        .await,
        5,
    );
}

async fn login_is_limited_per_email_across_addresses(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            "--trusted-proxies",
            "127.0.0.1",
            "--rate-limit-auth-email",
            "3/min",
        ],
    )
    .await;
    // Registered without signing in, so the victim's sign-in budget is untouched.
    let r = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "victim@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.signup("other@example.com").await;

    // Three guesses, each from a different address: all reach the password check.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let r = login_from(&app, ip, "victim@example.com", "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{ip}: {:?}", r.body);
    }
    // The fourth, from yet another address and spelled differently, is refused
    // before any password is checked; so is the right password now.
    let r = login_from(
        &app,
        "203.0.113.4",
        "  Victim@Example.COM ",
        "wrong password",
    )
    .await;
    assert_rate_limited(&r, 3);
    let r = login_from(
        &app,
        "203.0.113.5",
        "victim@example.com",
        "correct horse battery",
    )
    .await;
    assert_rate_limited(&r, 3);
    // Another account, from the same addresses, is untouched.
    let r = login_from(
        &app,
        "203.0.113.1",
        "other@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn forwarded_for_counts_only_from_trusted_proxies(backend: Backend) {
    let db = TestDb::new(backend).await;
    let direct = TestApp::spawn_on(db, &["--rate-limit-ip", "3/min"]).await;
    for i in 0..3 {
        let spoof = format!("198.51.100.{i}");
        let r = get_with(&direct, "/healthz", &[("x-forwarded-for", &spoof)]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // A fresh made-up address buys nothing: the peer is what counts.
    let r = get_with(&direct, "/healthz", &[("x-forwarded-for", "198.51.100.99")]).await;
    assert_rate_limited(&r, 3);

    // Behind a trusted proxy, each forwarded client has its own budget.
    let proxied = TestApp::spawn_with(
        backend,
        &["--rate-limit-ip", "3/min", "--trusted-proxies", "127.0.0.1"],
    )
    .await;
    for _ in 0..3 {
        let r = get_with(&proxied, "/healthz", &[("x-forwarded-for", "192.0.2.1")]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = get_with(&proxied, "/healthz", &[("x-forwarded-for", "192.0.2.1")]).await;
    assert_rate_limited(&r, 3);
    let r = get_with(&proxied, "/healthz", &[("x-forwarded-for", "192.0.2.2")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 2);
}

async fn order_creation_is_limited_per_user_not_per_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--rate-limit-orders", "2/min"]).await;
    let first = app.signup("buyer@example.com").await;
    let second = app
        .login("buyer@example.com", "correct horse battery")
        .await;
    let other = app.signup("other-buyer@example.com").await;
    let body = json!({"listing_id": "lst_none", "units": 1});

    // The first two reach the handler, signed in (the session the limiter
    // resolved is handed on), and learn that the listing does not exist.
    for _ in 0..2 {
        let r = app.post("/api/v1/orders", &body, Some(&first)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
        assert_eq!(header_u64(&r, "ratelimit-limit"), 2);
    }
    assert_rate_limited(&app.post("/api/v1/orders", &body, Some(&first)).await, 2);
    // A second session of the same user shares the budget.
    assert_rate_limited(&app.post("/api/v1/orders", &body, Some(&second)).await, 2);
    // Another user has their own; the limit is not per address.
    let r = app.post("/api/v1/orders", &body, Some(&other)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    // Without a valid session there is no user to limit: the handler says 401.
    let r = app
        .post("/api/v1/orders", &body, Some("forged-token"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Reading is not creating.
    let r = app.get("/api/v1/orders", Some(&first)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Being limited ends no session.
    assert_eq!(
        app.get("/api/v1/me", Some(&second)).await.status,
        StatusCode::OK
    );
}

fn redis_url() -> String {
    std::env::var("UDAM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn replicas_share_one_budget_through_redis(backend: Backend) {
    let db = TestDb::new(backend).await;
    let prefix = format!("udam-test:{}:", hex::encode(udam::ids::random_bytes::<8>()));
    let url = redis_url();
    let args = [
        "--redis-url",
        url.as_str(),
        "--redis-key-prefix",
        prefix.as_str(),
        "--rate-limit-ip",
        "6/min",
        // Buckets live in Redis until they would be full again: give them time to be seen.
        "--rate-limit-auth-ip",
        "20/min",
        "--rate-limit-auth-email",
        "10/min",
    ];
    let one = ServerProcess::start(&db.url, &args, &[]).await;
    let two = ServerProcess::start(&db.url, &args, &[]).await;

    // Two sign-in attempts spend from the shared address budget (and leave
    // email buckets behind, which are checked below).
    let attempt = json!({"email": "nobody@example.com", "password": "whatever1"});
    let r = one.post("/api/v1/auth/login", &attempt, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    let r = two.post("/api/v1/auth/register", &attempt, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    let mut allowed = 2;
    let mut denied = Vec::new();
    for i in 0..10 {
        let server = if i % 2 == 0 { &one } else { &two };
        let r = server.get("/healthz", None).await;
        match r.status {
            StatusCode::OK => allowed += 1,
            _ => denied.push(r),
        }
    }
    assert_eq!(allowed, 6, "one budget of six across both processes");
    assert_eq!(denied.len(), 6);
    for r in &denied {
        assert_rate_limited(r, 6);
    }

    // The buckets live in Redis under the prefix, and no email is ever a key.
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(keys.contains(&format!("{prefix}ip:127.0.0.1")), "{keys:?}");
    let email_keys: Vec<_> = keys.iter().filter(|k| k.contains("-email:")).collect();
    assert_eq!(email_keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains('@')), "{keys:?}");
    assert!(one.terminate().await);
    assert!(two.terminate().await);
}

async fn waiting_retry_after_is_enough(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--rate-limit-ip", "1/1s"]).await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let denied = app.get("/healthz", None).await;
    let told = tokio::time::Instant::now();
    assert_rate_limited(&denied, 1);
    let wait = Duration::from_secs(header_u64(&denied, "retry-after"));
    assert_eq!(wait, Duration::from_secs(1));
    // A client that obeys Retry-After to the letter is let through on its first try:
    // the header is rounded up, so the budget is back by then.
    tokio::time::sleep_until(told + wait).await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// The value of the first metric line naming `name` whose labels include all of `labels`.
fn metric_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics_listener_reports_requests_and_pool(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--rate-limit-ip", "3/min"]).await;
    let metrics = app.metrics.clone().expect("metrics listener is on");
    for _ in 0..2 {
        assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    }
    let unknown = app.get("/no/such/page-4711", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_rate_limited(&app.get("/healthz", None).await, 3);

    let r = metrics.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .is_some_and(|ct| ct.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
    let text = metrics
        .http
        .get(format!("{}/metrics", metrics.base))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let ok = metric_value(
        &text,
        "udam_http_requests_total",
        &[r#"route="/healthz""#, r#"method="GET""#, r#"status="200""#],
    );
    assert!(ok.is_some_and(|n| n >= 2.0), "{text}");
    let limited = metric_value(
        &text,
        "udam_http_requests_total",
        &[r#"route="/healthz""#, r#"status="429""#],
    );
    assert!(limited.is_some_and(|n| n >= 1.0), "{text}");
    assert!(
        metric_value(&text, "udam_rate_limited_total", &[r#"bucket_kind="ip""#])
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // Latency histogram with buckets, by route.
    assert!(
        metric_value(
            &text,
            "udam_http_request_duration_seconds_bucket",
            &[r#"route="/healthz""#, r#"le="+Inf""#],
        )
        .is_some_and(|n| n >= 3.0),
        "{text}"
    );
    assert!(text.contains(r#"le="0.005""#), "{text}");
    // Unknown paths are one label, never the raw path.
    assert!(
        metric_value(
            &text,
            "udam_http_requests_total",
            &[r#"route="unmatched""#, r#"status="404""#],
        )
        .is_some(),
        "{text}"
    );
    assert!(!text.contains("page-4711"));
    // The pool gauges, sampled at scrape: at least one connection is open.
    let idle = metric_value(&text, "udam_db_pool_connections", &[r#"state="idle""#]);
    let used = metric_value(&text, "udam_db_pool_connections", &[r#"state="used""#]);
    assert!(idle.zip(used).is_some_and(|(i, u)| i + u >= 1.0), "{text}");

    // The public port does not serve metrics; the metrics port serves nothing else.
    let r = app.client.get("/metrics", None).await;
    // (This client is rate limited by now, which is also not a metrics page.)
    assert!(r.status == StatusCode::NOT_FOUND || r.status == StatusCode::TOO_MANY_REQUESTS);
    let fresh = TestApp::spawn(backend).await;
    let r = fresh.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    assert_eq!(
        metrics.get("/healthz", None).await.status,
        StatusCode::NOT_FOUND
    );

    let off = TestApp::spawn_with(backend, &["--metrics-bind", "off"]).await;
    assert!(off.metrics.is_none());
}

async fn cors_is_off_by_default_and_exact_when_configured(backend: Backend) {
    let shop = "https://shop.example.com";
    let plain = TestApp::spawn(backend).await;
    let r = get_with(&plain, "/healthz", &[("origin", shop)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{:?}",
        r.headers
    );

    let app = TestApp::spawn_with(
        backend,
        &[
            "--cors-origins",
            "https://shop.example.com,http://localhost:3000",
        ],
    )
    .await;
    let r = get_with(&app, "/healthz", &[("origin", shop)]).await;
    assert_eq!(r.header("access-control-allow-origin"), Some(shop));
    assert!(
        r.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("ratelimit-remaining") && h.contains("retry-after")),
        "{:?}",
        r.headers
    );
    assert!(r.header("access-control-allow-credentials").is_none());
    let r = get_with(&app, "/healthz", &[("origin", "https://evil.example.com")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("access-control-allow-origin").is_none());

    // A preflight for a JSON login from the shop is answered.
    let preflight = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/auth/login", app.base),
        )
        .header("origin", shop)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        );
    let r = app.send(preflight).await;
    assert!(r.status.is_success(), "{:?}", r.status);
    assert_eq!(r.header("access-control-allow-origin"), Some(shop));
    assert!(
        r.header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST")),
        "{:?}",
        r.headers
    );
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
}

async fn oversized_headers_get_431_and_security_headers_are_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let big = "a".repeat(20 * 1024);
    let r = get_with(&app, "/healthz", &[("x-filler", &big)]).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(r.error_code(), "headers_too_large");
    // The body (if any) was never read, so the connection cannot be reused; say so.
    assert_eq!(r.header("connection"), Some("close"));
    let under = "a".repeat(8 * 1024);
    let ok = get_with(&app, "/healthz", &[("x-filler", &under)]).await;
    assert_eq!(ok.status, StatusCode::OK);

    // A smaller configured limit applies.
    let strict = TestApp::spawn_with(backend, &["--header-limit", "4096"]).await;
    let r = get_with(&strict, "/healthz", &[("x-filler", &under)]).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    let missing = app.get("/nothing-here", None).await;
    for response in [&ok, &r, &missing] {
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        // An http public URL (development) gets no HSTS: browsers would refuse it.
        assert_eq!(response.header("strict-transport-security"), None);
        assert!(
            response
                .header("content-security-policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'"))
        );
    }
}

async fn oversized_login_body_is_413_even_when_chunked(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with(backend, &["--body-limit", "1024"]).await;
    // Without Content-Length the body limit can only be found while reading,
    // which the limiter does to find the email: it must still end in a 413.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let padding = "x".repeat(4096);
    let body = format!(r#"{{"email":"big@example.com","password":"{padding}"}}"#);
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    // The server may answer before reading everything and close; what it sent is enough.
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // A body within the limit reaches the handler intact after the limiter read it.
    let r = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "small@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["user"]["email"], "small@example.com");
}

async fn purge_deletes_expired_sessions_and_old_idempotency_keys(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--purge-interval", "100ms"]).await;
    let stale = app.signup("stale@example.com").await;
    let live = app.signup("live@example.com").await;
    let stale_id = app.get("/api/v1/me", Some(&stale)).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let live_id = app.get("/api/v1/me", Some(&live)).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let pool = app.database().writes();
    sqlx::query("UPDATE sessions SET expires_at = 1 WHERE user_id = $1")
        .bind(&stale_id)
        .execute(pool)
        .await
        .expect("expire a session");
    let now = udam::clock::now_ms();
    for (key, created_at) in [
        ("old-key", now - 25 * 3600 * 1000),
        ("new-key", now - 3600 * 1000),
    ] {
        sqlx::query(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&live_id)
        .bind(key)
        .bind(vec![0u8; 32])
        .bind(created_at)
        .execute(pool)
        .await
        .expect("insert idempotency key");
    }

    let mut purged = false;
    for _ in 0..200 {
        let sessions = app
            .scalar(
                "SELECT COUNT(*) FROM sessions WHERE user_id = $1",
                &stale_id,
            )
            .await;
        let keys = app
            .scalar(
                "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = $1",
                "old-key",
            )
            .await;
        if sessions == 0 && keys == 0 {
            purged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        purged,
        "the purge task removed the expired rows within 10 s"
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = $1",
            "new-key"
        )
        .await,
        1,
        "a key younger than a day is kept"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1", &live_id)
            .await,
        1
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&live)).await.status,
        StatusCode::OK
    );
    // Running it by hand finds nothing left.
    let again = udam::maintenance::purge_once(app.database())
        .await
        .expect("purge");
    assert_eq!(again, udam::maintenance::Purged::default());
}

#[test]
fn malformed_edge_settings_stop_with_one_clear_line() {
    let udam = env!("CARGO_BIN_EXE_udam");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        (&["--rate-limit-ip", "5/fortnight"], &[], "--rate-limit-ip"),
        (
            &[],
            &[("UDAM_RATE_LIMIT_AUTH_EMAIL", "0/min")],
            "--rate-limit-auth-email",
        ),
        (&["--metrics-bind", "nope"], &[], "--metrics-bind"),
        (&[], &[("UDAM_CORS_ORIGINS", "*")], "--cors-origins"),
        (
            &["--trusted-proxies", "localhost"],
            &[],
            "--trusted-proxies",
        ),
        (&["--purge-interval", "soon"], &[], "--purge-interval"),
    ];
    for (args, env, named) in cases {
        let out = Command::new(udam)
            .args(args)
            .arg("migrate")
            .envs(env.iter().copied())
            .output()
            .expect("udam runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} {env:?} was accepted");
        assert!(stderr.contains(named), "{named} not named in: {stderr}");
        assert!(!stderr.contains("panicked"));
        assert!(
            stderr
                .lines()
                .next()
                .unwrap_or_default()
                .starts_with("error:"),
            "{stderr}"
        );
    }
}
