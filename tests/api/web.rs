//! The web UI over plain HTTP: CSRF, session cookies, HTML versus JSON errors,
//! sign-in redirects, escaping, and buying through the forms.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use sha2::{Digest, Sha256};

use crate::common::{Backend, Client, TestApp, create_listing, listing_body, units_left};

crate::dual_backend_tests!(
    forms_without_the_right_csrf_token_change_nothing,
    sign_in_forms_need_the_double_submit_cookie,
    session_cookie_flags_and_sign_out,
    secure_cookies_behind_https,
    not_found_is_html_for_pages_and_json_for_the_api,
    protected_pages_redirect_to_sign_in_and_back,
    listing_text_is_escaped,
    buying_through_the_forms,
    settling_the_balance_through_the_forms,
    sellers_manage_listings_from_the_dashboard,
    web_forms_spend_from_the_api_rate_limits,
    rate_limited_pages_are_html_for_browsers,
);

/// A page as a browser gets it (no redirects followed).
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Every `Set-Cookie` for `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of hidden field `name` in the first form that has it.
    fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.html.find(&marker)? + marker.len();
        let end = self.html[start..].find('"')?;
        Some(self.html[start..start + end].to_owned())
    }
}

/// GET a page with an optional `Cookie` header.
pub async fn get(app: &Client, path: &str, cookie: Option<&str>) -> Page {
    let mut req = app.http.get(format!("{}{path}", app.base));
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    read(req).await
}

/// POST a form with an optional `Cookie` header.
pub async fn post(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Page {
    let mut req = app
        .http
        .post(format!("{}{path}", app.base))
        .body(serde_urlencoded::to_string(fields).unwrap());
    req = req.header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    read(req).await
}

async fn read(req: reqwest::RequestBuilder) -> Page {
    let resp = req.send().await.expect("request reaches the server");
    Page {
        status: resp.status(),
        headers: resp.headers().clone(),
        html: resp.text().await.expect("body"),
    }
}

/// The cookie a browser signed in with `token` sends.
pub fn session(token: &str) -> String {
    format!("udam_session={token}")
}

/// The CSRF token of a session, computed as the server documents it.
pub fn csrf(token: &str) -> String {
    hex::encode(Sha256::digest(format!("udam-csrf:{token}").as_bytes()))
}

async fn listing_status(app: &TestApp, id: &str) -> String {
    app.get(&format!("/api/v1/listings/{id}"), None).await.body["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_csrf_page(page: &Page) {
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    assert!(page.html.contains("Not allowed"), "{}", page.html);
    assert!(page.html.contains("nothing was changed"), "{}", page.html);
}

async fn forms_without_the_right_csrf_token_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("weather", 100, 10)).await;
    let cookie = session(&seller);
    let path = format!("/dashboard/listings/{listing}/status");

    let missing = post(&app, &path, Some(&cookie), &[("status", "paused")]).await;
    assert_csrf_page(&missing);
    let wrong = post(
        &app,
        &path,
        Some(&cookie),
        &[("status", "paused"), ("csrf", &csrf("another-session"))],
    )
    .await;
    assert_csrf_page(&wrong);
    assert_eq!(
        listing_status(&app, &listing).await,
        "active",
        "nothing changed"
    );

    // Creating a listing and buying are refused the same way.
    let sell = post(
        &app,
        "/sell",
        Some(&cookie),
        &[
            ("service_name", "sneaky"),
            ("price", "1.00"),
            ("currency", "usd"),
            ("units", "5"),
            ("unit_description", "per unit"),
            ("api_key", "sk_sneaky_0123456789"),
        ],
    )
    .await;
    assert_csrf_page(&sell);
    let buyer = app.signup("buyer@example.com").await;
    let buy = post(
        &app,
        &format!("/listings/{listing}/buy"),
        Some(&session(&buyer)),
        &[("units", "1"), ("csrf", &csrf(&seller))],
    )
    .await;
    assert_csrf_page(&buy);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM listings WHERE service_name = $1",
            "sneaky"
        )
        .await,
        0
    );
    assert_eq!(units_left(&app, &listing).await, 10);

    // The page's own token works.
    let dashboard = get(&app, "/dashboard", Some(&cookie)).await;
    let token = dashboard.field("csrf").expect("the dashboard has forms");
    assert_eq!(token, csrf(&seller));
    let ok = post(
        &app,
        &path,
        Some(&cookie),
        &[("status", "paused"), ("csrf", &token)],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/dashboard?notice=listing_paused");
    assert_eq!(listing_status(&app, &listing).await, "paused");

    // The JSON API never accepts the cookie: only a bearer token.
    let me = app
        .send(
            app.http
                .get(format!("{}/api/v1/me", app.base))
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

async fn sign_in_forms_need_the_double_submit_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signup("ann@example.com").await;
    let form = get(&app, "/signin", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let anon = form
        .set_cookie("udam_csrf")
        .expect("a double-submit cookie");
    assert!(
        anon.contains("HttpOnly") && anon.contains("SameSite=Lax"),
        "{anon}"
    );
    let value = anon
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("udam_csrf=")
        .to_owned();
    assert_eq!(form.field("csrf").as_deref(), Some(value.as_str()));
    let creds = [
        ("email", "ann@example.com"),
        ("password", "correct horse battery"),
    ];

    // A cross-site form has neither the cookie nor its value.
    let forged = post(
        &app,
        "/signin",
        None,
        &[creds[0], creds[1], ("csrf", "guess")],
    )
    .await;
    assert_csrf_page(&forged);
    assert!(forged.set_cookie("udam_session").is_none());
    let mismatched = post(
        &app,
        "/signin",
        Some(&format!("udam_csrf={value}")),
        &[creds[0], creds[1], ("csrf", &"0".repeat(64))],
    )
    .await;
    assert_csrf_page(&mismatched);
    let signup = post(
        &app,
        "/signup",
        None,
        &[
            ("email", "new@example.com"),
            ("password", "long enough password"),
        ],
    )
    .await;
    assert_csrf_page(&signup);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM users WHERE email = $1",
            "new@example.com"
        )
        .await,
        0
    );

    let ok = post(
        &app,
        "/signin",
        Some(&format!("udam_csrf={value}")),
        &[creds[0], creds[1], ("csrf", &value)],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let first = cookie_value(&ok.set_cookie("udam_session").expect("a session"));
    // Signing in again in a browser that holds a session (or one planted in it)
    // ends that session: only the new one lives.
    let again = post(
        &app,
        "/signin",
        Some(&format!("udam_csrf={value}; udam_session={first}")),
        &[creds[0], creds[1], ("csrf", &value)],
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let second = cookie_value(&again.set_cookie("udam_session").expect("a session"));
    assert_eq!(
        app.get("/api/v1/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let me = app.get("/api/v1/me", Some(&second)).await;
    assert_eq!(me.status, StatusCode::OK);
    // API answers that may carry secrets are never stored by a cache.
    assert_eq!(me.header("cache-control"), Some("no-store"));

    // A wrong password re-renders the form with a message and no session.
    let wrong = post(
        &app,
        "/signin",
        Some(&format!("udam_csrf={value}")),
        &[creds[0], ("password", "not the password"), ("csrf", &value)],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.html.contains("The email or password is wrong."),
        "{}",
        wrong.html
    );
    assert!(
        wrong.html.contains("value=\"ann@example.com\""),
        "the email is kept"
    );
    assert!(wrong.set_cookie("udam_session").is_none());
}

/// Signs up through the forms, as a browser does; returns the sign-up response.
async fn web_signup(app: &TestApp, email: &str) -> Page {
    web_signup_with(app, email, "udam_csrf").await
}

/// Signs up through the form, sending the form's token back in cookie `csrf_cookie`.
async fn web_signup_with(app: &TestApp, email: &str, csrf_cookie: &str) -> Page {
    let form = get(app, "/signup", None).await;
    let token = form.field("csrf").expect("csrf field");
    post(
        app,
        "/signup",
        Some(&format!("{csrf_cookie}={token}")),
        &[
            ("email", email),
            ("password", "correct horse battery"),
            ("display_name", "Web Person"),
            ("csrf", &token),
            ("next", "/"),
        ],
    )
    .await
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

async fn session_cookie_flags_and_sign_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let signed_up = web_signup(&app, "web@example.com").await;
    assert_eq!(signed_up.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_up.location(), "/?notice=welcome");
    let set = signed_up
        .set_cookie("udam_session")
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(flag), "{flag} missing in {set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain http cannot carry Secure cookies: {set}"
    );
    let token = cookie_value(&set);

    // The cookie holds an ordinary API session.
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["email"], "web@example.com");
    let home = get(&app, "/?notice=welcome", Some(&session(&token))).await;
    assert!(home.html.contains("Welcome! Your account is ready."));
    assert!(
        home.html
            .contains("Signed in as <strong>Web Person</strong>")
    );

    // Signing out revokes the session on the server, not just in the browser.
    let out = post(
        &app,
        "/signout",
        Some(&session(&token)),
        &[("csrf", &csrf(&token))],
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/?notice=signed_out");
    let cleared = out.set_cookie("udam_session").expect("cookie cleared");
    assert!(
        cleared.starts_with("udam_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let after = get(&app, "/orders", Some(&session(&token))).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/signin?next=%2Forders");
}

async fn secure_cookies_behind_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--public-url", "https://market.example"]).await;
    let form = get(&app, "/signup", None).await;
    // `__Host-`: browsers keep these only Secure, for Path=/ and without Domain, so
    // no sibling subdomain can plant a session or a double-submit token.
    assert!(form.set_cookie("udam_csrf").is_none());
    let anon = form.set_cookie("__Host-udam_csrf").unwrap();
    assert!(
        anon.contains("; Secure") && anon.contains("Path=/"),
        "{anon}"
    );
    assert!(!anon.contains("Domain"), "{anon}");
    // A token in the unprefixed cookie (what a subdomain could set) is refused.
    let planted = web_signup_with(&app, "planted@example.com", "udam_csrf").await;
    assert_eq!(planted.status, StatusCode::FORBIDDEN, "{}", planted.html);
    let signed_up = web_signup_with(&app, "secure@example.com", "__Host-udam_csrf").await;
    assert_eq!(
        signed_up.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_up.html
    );
    let set = signed_up
        .set_cookie("__Host-udam_session")
        .expect("session cookie");
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Domain"), "{set}");
    // The session is read from that cookie only.
    let token = cookie_value(&set);
    let me = get(
        &app,
        "/orders",
        Some(&format!("__Host-udam_session={token}")),
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    let unprefixed = get(&app, "/orders", Some(&format!("udam_session={token}"))).await;
    assert_eq!(unprefixed.status, StatusCode::SEE_OTHER, "signed out");
    // Browsers are told to come back over https only.
    let hsts = form.headers.get("strict-transport-security");
    assert_eq!(hsts.and_then(|v| v.to_str().ok()), Some("max-age=31536000"));
    let api = app.get("/api/v1/listings", None).await;
    assert_eq!(
        api.header("strict-transport-security"),
        Some("max-age=31536000")
    );
}

async fn not_found_is_html_for_pages_and_json_for_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = get(&app, "/no/such/page", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.content_type().starts_with("text/html"));
    assert!(page.html.contains("Page not found"));
    assert!(page.html.contains("href=\"/\""), "a way back");
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    let bad = get(&app, "/?cursor=not-a-cursor", None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.content_type().starts_with("text/html"));
    assert!(bad.html.contains("That did not work"), "{}", bad.html);

    let listing = get(&app, "/listings/lst_missing", None).await;
    assert_eq!(listing.status, StatusCode::NOT_FOUND);
    assert!(
        listing.html.contains("Listing not found."),
        "{}",
        listing.html
    );

    // An id that cannot be one is a 404 page before any query (PostgreSQL refuses NUL).
    for bad in ["/listings/lst%00x", "/listings/a%20b"] {
        let page = get(&app, bad, None).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(page.html.contains("Page not found"), "{bad}");
    }

    for path in [
        "/api/v1/nope",
        "/api",
        "/dev/nope",
        "/docs/nope/deeper",
        "/metrics",
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.error_code(), "not_found", "{path}: {:?}", r.body);
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
    }

    // A wrong method on a page is a page too; on the API, an envelope.
    let wrong = post(&app, "/tokens", None, &[]).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong.content_type().starts_with("text/html"));
    let api = app.delete("/api/v1/auth/login", None).await;
    assert_eq!(api.error_code(), "method_not_allowed");
}

async fn protected_pages_redirect_to_sign_in_and_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/orders", "/tokens", "/balance", "/sell", "/dashboard"] {
        let page = get(&app, path, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            page.location(),
            format!("/signin?next=%2F{}", &path[1..]),
            "{path}"
        );
    }
    let page = get(&app, "/orders?cursor=abc", Some("udam_session=stale-token")).await;
    assert_eq!(page.location(), "/signin?next=%2Forders%3Fcursor%3Dabc");
    // A signed-out form POST also goes to sign in, and changes nothing.
    let post_out = post(&app, "/sell", None, &[("service_name", "x")]).await;
    assert_eq!(post_out.status, StatusCode::SEE_OTHER);
    assert_eq!(post_out.location(), "/signin");

    // The sign-in form carries `next` and follows it; only to this site.
    app.signup("ann@example.com").await;
    let form = get(&app, "/signin?next=%2Ftokens", None).await;
    assert_eq!(form.field("next").as_deref(), Some("/tokens"));
    let token = form.field("csrf").unwrap();
    for (next, expected) in [
        ("/tokens", "/tokens"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let done = post(
            &app,
            "/signin",
            Some(&format!("udam_csrf={token}")),
            &[
                ("email", "ann@example.com"),
                ("password", "correct horse battery"),
                ("csrf", &token),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(done.location(), expected, "{next}");
    }
    // Signed in, the sign-in page sends people on.
    let signed_in = app.login("ann@example.com", "correct horse battery").await;
    let again = get(&app, "/signin?next=%2Fbalance", Some(&session(&signed_in))).await;
    assert_eq!(again.location(), "/balance");
}

async fn listing_text_is_escaped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let mut body = listing_body("x", 100, 10);
    body["service_name"] = "<script>alert(1)</script>".into();
    body["description"] = "\"><img src=x onerror=alert(2)>".into();
    let id = create_listing(&app, &seller, &body).await;
    for path in [
        "/".to_owned(),
        format!("/listings/{id}"),
        "/?q=%3Cscript%3E".to_owned(),
    ] {
        let page = get(&app, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        // On the search page the matched word is marked and the text around it stays
        // escaped (PostgreSQL's parser reads `<script>` as a markup tag, not a word,
        // so there the search finds nothing).
        let escaped = if path.contains("?q=") {
            "&#60;<mark>script</mark>&#62;alert(1)&#60;/<mark>script</mark>&#62;"
        } else {
            "&#60;script&#62;alert(1)&#60;/script&#62;"
        };
        let searched_nothing = path.contains("?q=") && page.html.contains("Nothing matches");
        assert!(
            page.html.contains(escaped) || searched_nothing,
            "{path}: {}",
            page.html
        );
        assert!(!page.html.contains("<script>alert(1)"), "{path}");
        assert!(!page.html.contains("<img src=x"), "{path}");
    }
    let search = get(&app, "/?q=%3Cb%3Ebold", None).await;
    assert!(
        search.html.contains("value=\"&#60;b&#62;bold\""),
        "the query is echoed, escaped"
    );
    assert!(!search.html.contains("<b>bold"));
}

/// Where a hand-off page sends the browser (its `<meta http-equiv="refresh">`).
fn handoff_target(html: &str) -> String {
    let start = html
        .find("content=\"0; url=")
        .map(|i| i + "content=\"0; url=".len())
        .unwrap_or_else(|| panic!("no hand-off in {html}"));
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn buying_through_the_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let cheap = create_listing(&app, &seller, &listing_body("weather", 100, 10)).await;
    let dear = create_listing(&app, &seller, &listing_body("stocks", 1000, 5)).await;
    let cookie = session(&buyer);
    let token = csrf(&buyer);

    let page = get(&app, &format!("/listings/{cheap}"), Some(&cookie)).await;
    assert!(page.html.contains("$1.00"), "price in its currency");
    assert!(
        page.html
            .contains(&format!("action=\"/listings/{cheap}/buy\""))
    );

    // Small: fulfilled at once, straight to the token.
    let small = post(
        &app,
        &format!("/listings/{cheap}/buy"),
        Some(&cookie),
        &[("units", "2"), ("csrf", &token)],
    )
    .await;
    assert_eq!(small.status, StatusCode::SEE_OTHER);
    assert!(
        small
            .location()
            .starts_with("/tokens?notice=order_fulfilled&order=ord_"),
        "{}",
        small.location()
    );
    let tokens = get(&app, small.location(), Some(&cookie)).await;
    assert!(tokens.html.contains("Your order is fulfilled."));
    assert!(tokens.html.contains("sk_weather_secret_0123456789"));
    assert!(
        tokens.html.contains("••••••••6789"),
        "masked until revealed"
    );
    assert_eq!(tokens.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(units_left(&app, &cheap).await, 8);
    let balance = get(&app, "/balance", Some(&cookie)).await;
    assert!(balance.html.contains("Settle $2.00"), "{}", balance.html);
    assert!(
        balance.html.contains("at most your 1,000 oldest orders"),
        "the page says a settlement is bounded: {}",
        balance.html
    );
    assert!(balance.html.contains("name=\"currency\" value=\"usd\""));

    // Too many units: the listing explains, and nothing is taken.
    let refused = post(
        &app,
        &format!("/listings/{cheap}/buy"),
        Some(&cookie),
        &[("units", "50"), ("csrf", &token)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.html.contains("Only 8 unit(s) left."),
        "{}",
        refused.html
    );
    assert_eq!(units_left(&app, &cheap).await, 8);

    // Large: reserved, then handed to checkout by a page on this site.
    let large = post(
        &app,
        &format!("/listings/{dear}/buy"),
        Some(&cookie),
        &[("units", "2"), ("csrf", &token)],
    )
    .await;
    assert_eq!(large.status, StatusCode::SEE_OTHER);
    let pay_path = large.location().to_owned();
    assert!(
        pay_path.starts_with("/orders/ord_") && pay_path.ends_with("/pay"),
        "{pay_path}"
    );
    let order_id = pay_path
        .trim_start_matches("/orders/")
        .trim_end_matches("/pay")
        .to_owned();
    let pay = get(&app, &pay_path, Some(&cookie)).await;
    let checkout = handoff_target(&pay.html);
    assert!(
        checkout.starts_with(&format!("{}/dev/checkout/dck_", app.base))
            && !checkout.contains(&order_id),
        "the checkout is reached by its own token, not the order id: {checkout}"
    );
    let orders = get(&app, "/orders", Some(&cookie)).await;
    assert!(orders.html.contains("Awaiting payment"));
    assert!(orders.html.contains(&format!("href=\"{checkout}\"")));
    // The seller's dashboard lists the sale but never the buyer's checkout link.
    let dashboard = get(&app, "/dashboard", Some(&session(&seller))).await;
    assert!(dashboard.html.contains(&order_id), "{}", dashboard.html);
    assert!(
        !dashboard.html.contains("/dev/checkout/"),
        "{}",
        dashboard.html
    );

    // The seller cannot see the buyer's return page; the buyer can.
    let theirs = get(
        &app,
        &format!("/orders/{order_id}/success"),
        Some(&session(&seller)),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let waiting = get(&app, &format!("/orders/{order_id}/success"), Some(&cookie)).await;
    assert!(waiting.html.contains("Confirming your payment"));
    assert!(waiting.html.contains("http-equiv=\"refresh\""));

    // Cancel from the orders page releases the units.
    let cancelled = post(
        &app,
        &format!("/orders/{order_id}/cancel"),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(cancelled.location(), "/orders?notice=order_cancelled");
    assert_eq!(units_left(&app, &dear).await, 5);
    let back = get(
        &app,
        &format!("/orders/{order_id}/cancelled"),
        Some(&cookie),
    )
    .await;
    assert!(back.html.contains("Order cancelled"));
    assert!(back.html.contains("Nothing was charged"));
}

async fn settling_the_balance_through_the_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("weather", 150, 10)).await;
    let cookie = session(&buyer);
    let token = csrf(&buyer);

    let nothing = post(
        &app,
        "/balance/settle",
        Some(&cookie),
        &[("currency", "usd"), ("csrf", &token)],
    )
    .await;
    assert_eq!(nothing.status, StatusCode::CONFLICT);
    assert!(
        nothing
            .html
            .contains("There is nothing to settle in this currency."),
        "{}",
        nothing.html
    );

    let bought = post(
        &app,
        &format!("/listings/{listing}/buy"),
        Some(&cookie),
        &[("units", "2"), ("csrf", &token)],
    )
    .await;
    assert_eq!(bought.status, StatusCode::SEE_OTHER);
    let settle = post(
        &app,
        "/balance/settle",
        Some(&cookie),
        &[("currency", "usd"), ("csrf", &token)],
    )
    .await;
    assert_eq!(settle.status, StatusCode::SEE_OTHER);
    let pay_path = settle.location().to_owned();
    assert!(
        pay_path.starts_with("/balance/settlements/stl_") && pay_path.ends_with("/pay"),
        "{pay_path}"
    );
    let id = pay_path
        .trim_start_matches("/balance/settlements/")
        .trim_end_matches("/pay")
        .to_owned();
    // Nobody else can see it.
    let theirs = get(&app, &pay_path, Some(&session(&seller))).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let handoff = get(&app, &pay_path, Some(&cookie)).await;
    assert!(
        handoff
            .html
            .contains("Pay $3.00 for the orders you owe in USD."),
        "{}",
        handoff.html
    );
    let checkout = handoff_target(&handoff.html);
    assert!(
        checkout.starts_with(&format!("{}/dev/checkout/dck_", app.base)) && !checkout.contains(&id),
        "{checkout}"
    );
    let waiting = get(&app, &format!("/balance?settled={id}"), Some(&cookie)).await;
    assert!(
        waiting.html.contains("Confirming your payment of $3.00"),
        "{}",
        waiting.html
    );
    // Bought while the settlement is open: owed, but not in the open checkout, so
    // the Settle button says what it charges, not the whole balance.
    let later = post(
        &app,
        &format!("/listings/{listing}/buy"),
        Some(&cookie),
        &[("units", "1"), ("csrf", &token)],
    )
    .await;
    assert_eq!(later.status, StatusCode::SEE_OTHER);
    assert!(waiting.html.contains("Settle $3.00"), "{}", waiting.html);
    let open = get(&app, "/balance", Some(&cookie)).await;
    assert!(
        open.html.contains("<strong>$4.50</strong>"),
        "{}",
        open.html
    );
    assert!(open.html.contains("Settle $3.00"), "{}", open.html);
    assert!(open.html.contains("Pays $3.00 of it"), "{}", open.html);

    let paid = app
        .http
        .post(format!("{checkout}/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let done = get(&app, &format!("/balance?settled={id}"), Some(&cookie)).await;
    assert!(
        done.html.contains("the orders it covered are paid"),
        "{}",
        done.html
    );
    // What was bought meanwhile is what is left, and all of it settles next.
    assert!(done.html.contains("Settle $1.50"), "{}", done.html);
    assert!(!done.html.contains("Pays "), "{}", done.html);
    // Free orders owe nothing: they say so, and are never settled.
    let free = create_listing(&app, &seller, &listing_body("gratis", 0, 10)).await;
    let got = post(
        &app,
        &format!("/listings/{free}/buy"),
        Some(&cookie),
        &[("units", "1"), ("csrf", &token)],
    )
    .await;
    assert_eq!(got.status, StatusCode::SEE_OTHER);
    let orders = get(&app, "/orders", Some(&cookie)).await;
    assert!(
        orders.html.contains("<span class=\"small\">Free</span>"),
        "{}",
        orders.html
    );
    let again = get(&app, "/balance", Some(&cookie)).await;
    assert!(again.html.contains("Settle $1.50"), "{}", again.html);
    // Once paid, the hand-off goes back to the balance instead of to checkout.
    let again = get(&app, &pay_path, Some(&cookie)).await;
    assert_eq!(again.location(), format!("/balance?settled={id}"));
    app.assert_ledger_clean().await;
}

async fn sellers_manage_listings_from_the_dashboard(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let cookie = session(&seller);
    let token = csrf(&seller);

    // Sell through the form: the price is typed in dollars, stored in cents.
    let sold = post(
        &app,
        "/sell",
        Some(&cookie),
        &[
            ("service_name", "Tide Tables"),
            ("description", "Every port.\r\nEvery day."),
            ("unit_description", "per 1,000 requests"),
            ("price", "1.25"),
            ("currency", "eur"),
            ("units", "30"),
            ("api_key", "sk_tides_0123456789"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(sold.status, StatusCode::SEE_OTHER);
    let id = sold
        .location()
        .trim_start_matches("/listings/")
        .trim_end_matches("?notice=listing_created")
        .to_owned();
    let api = app.get(&format!("/api/v1/listings/{id}"), None).await.body;
    assert_eq!(api["price_cents"], 125);
    assert_eq!(api["currency"], "eur");
    assert_eq!(api["description"], "Every port.\nEvery day.");
    let shown = get(&app, &format!("/listings/{id}"), None).await;
    assert!(shown.html.contains("€1.25"));

    // A bad price is explained in the form's words and changes nothing.
    let orig = [
        ("orig_price", "1.25"),
        ("orig_units", "30"),
        ("orig_description", "Every port.\nEvery day."),
    ];
    let edit = format!("/dashboard/listings/{id}/edit");
    let bad = post(
        &app,
        &edit,
        Some(&cookie),
        &[
            orig[0],
            orig[1],
            orig[2],
            ("price", "1.255"),
            ("units", "30"),
            ("description", "Every port.\r\nEvery day."),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.html
            .contains("Price: enter an amount like 2.55 (EUR allows 2 decimal places)."),
        "{}",
        bad.html
    );

    // Meanwhile a buyer takes units; an edit of the price alone leaves them taken.
    let r = crate::common::order(&app, &buyer, &id, 4).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let ok = post(
        &app,
        &edit,
        Some(&cookie),
        &[
            orig[0],
            orig[1],
            orig[2],
            ("price", "2.50"),
            ("units", "30"),
            ("description", "Every port.\r\nEvery day."),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(ok.location(), "/dashboard?notice=listing_updated");
    let api = app.get(&format!("/api/v1/listings/{id}"), None).await.body;
    assert_eq!(api["price_cents"], 250);
    assert_eq!(
        api["available_units"], 26,
        "the form's stale 30 was not written back"
    );

    // Pause, resume, archive.
    let status = format!("/dashboard/listings/{id}/status");
    post(
        &app,
        &status,
        Some(&cookie),
        &[("status", "paused"), ("csrf", &token)],
    )
    .await;
    let page = get(&app, "/dashboard", Some(&cookie)).await;
    assert!(page.html.contains("Resume sales"), "{}", page.html);
    let refused = post(
        &app,
        &format!("/listings/{id}/buy"),
        Some(&session(&buyer)),
        &[("units", "1"), ("csrf", &csrf(&buyer))],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.html.contains("cannot be bought"),
        "{}",
        refused.html
    );
    post(
        &app,
        &status,
        Some(&cookie),
        &[("status", "active"), ("csrf", &token)],
    )
    .await;
    assert_eq!(listing_status(&app, &id).await, "active");
    let archived = post(
        &app,
        &format!("/dashboard/listings/{id}/archive"),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(archived.location(), "/dashboard?notice=listing_archived");
    let dashboard = get(&app, "/dashboard?notice=listing_archived", Some(&cookie)).await;
    assert!(
        dashboard
            .html
            .contains("Tokens already issued keep working.")
    );
    assert!(dashboard.html.contains("Archived"));
    assert!(
        !dashboard
            .html
            .contains(&format!("action=\"/dashboard/listings/{id}/edit\""))
    );
    // Gone for buyers, still visible to its seller.
    assert_eq!(
        get(&app, &format!("/listings/{id}"), Some(&session(&buyer)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, &format!("/listings/{id}"), Some(&cookie))
            .await
            .status,
        StatusCode::OK
    );

    // Another user cannot touch it: the service says no, and the page says why.
    let other = post(
        &app,
        &status,
        Some(&session(&buyer)),
        &[("status", "paused"), ("csrf", &csrf(&buyer))],
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(
        other
            .html
            .contains("Only the listing&#39;s seller may change it."),
        "{}",
        other.html
    );
}

async fn web_forms_spend_from_the_api_rate_limits(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            "--rate-limit-auth-email",
            "2/min",
            "--rate-limit-orders",
            "1/min",
        ],
    )
    .await;
    app.signup("ann@example.com").await;
    let form = get(&app, "/signin", None).await;
    let token = form.field("csrf").unwrap();
    let cookie = format!("udam_csrf={token}");
    let attempt = |password: &'static str| {
        let (app, cookie, token) = (&app, cookie.clone(), token.clone());
        async move {
            post(
                app,
                "/signin",
                Some(&cookie),
                &[
                    ("email", "Ann@Example.com"),
                    ("password", password),
                    ("csrf", &token),
                ],
            )
            .await
        }
    };
    // The sign-in inside `signup` (through the API) and one wrong form attempt use
    // up the budget of this email.
    assert_eq!(
        attempt("wrong password 1").await.status,
        StatusCode::UNAUTHORIZED
    );
    let limited = attempt("correct horse battery").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.html
    );
    assert!(limited.content_type().starts_with("text/html"));
    assert!(limited.html.contains("Too many requests"));
    assert!(limited.headers.get("retry-after").is_some());
    assert!(
        limited.set_cookie("udam_session").is_none(),
        "not signed in"
    );
    // The budget is the API's too: login for that email is refused there as well.
    let api = app
        .post(
            "/api/v1/auth/login",
            &serde_json::json!({"email": "ann@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);

    // Orders: one per minute for this test, whether through the API or the form.
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("weather", 100, 10)).await;
    let buy = |units: &'static str| {
        let (app, cookie, token, path) = (
            &app,
            session(&buyer),
            csrf(&buyer),
            format!("/listings/{listing}/buy"),
        );
        async move {
            post(
                app,
                &path,
                Some(&cookie),
                &[("units", units), ("csrf", &token)],
            )
            .await
        }
    };
    assert_eq!(buy("1").await.status, StatusCode::SEE_OTHER);
    let second = buy("1").await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(second.html.contains("Too many requests"));
    assert_eq!(
        units_left(&app, &listing).await,
        9,
        "the second order was not placed"
    );
    assert_eq!(
        crate::common::order(&app, &buyer, &listing, 1).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn rate_limited_pages_are_html_for_browsers(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--rate-limit-ip", "3/min"]).await;
    let browse = |path: &'static str| {
        let app = &app;
        async move {
            read(
                app.http
                    .get(format!("{}{path}", app.base))
                    .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(browse("/").await.status, StatusCode::OK);
    }
    let page = browse("/").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    assert!(page.html.contains("Too many requests"));
    assert!(page.html.contains("Wait a few seconds"));
    assert!(page.headers.get("retry-after").is_some());
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // API paths, and clients that do not ask for HTML, keep the JSON envelope.
    let api = browse("/api/v1/listings").await;
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(api.content_type().starts_with("application/json"));
    let probe = app.get("/healthz", None).await;
    assert_eq!(probe.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(probe.error_code(), "rate_limited");
}
