//! The whole marketplace in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, started here on a free port) against a real server.
//!
//! Needs Debian's `chromium` and `chromium-driver`; `scripts/test.sh` installs them
//! when missing. Screenshots of key pages land in `target/e2e-screenshots/`; with
//! `UDAM_UPDATE_SCREENSHOTS=1` the README's dashboard screenshots are written to
//! `docs/screenshots/` as well.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::json;

use crate::common::{Backend, TestApp};

/// How long any one condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// A chromedriver process of this test; killed (by its pid) when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn first_existing(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| (*p).to_owned())
}

fn missing_browser(what: &str) -> ! {
    panic!(
        "{what} not found. The browser test needs Debian's chromium and chromium-driver: \
         run the tests through scripts/test.sh (it installs them as root), or run \
         `apt-get update && apt-get install -y chromium chromium-driver`"
    )
}

impl ChromeDriver {
    /// Starts chromedriver on a free loopback port and waits until it answers.
    async fn start() -> Self {
        let driver = std::env::var("UDAM_CHROMEDRIVER").ok().or_else(|| {
            first_existing(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
        });
        let Some(driver) = driver else {
            missing_browser("chromedriver")
        };
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("port").port()
        };
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver}: {e}"));
        let profile = std::env::temp_dir().join(format!(
            "udam-chromium-{}",
            hex::encode(udam::ids::random_bytes::<8>())
        ));
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a headless Chromium session with a fresh profile.
    async fn session(&self) -> Client {
        let binary = std::env::var("UDAM_CHROMIUM")
            .ok()
            .or_else(|| first_existing(&["/usr/lib/chromium/chromium", "/usr/bin/chromium"]));
        let Some(binary) = binary else {
            missing_browser("chromium")
        };
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1100,850",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object literal")
        };
        // WebDriver runs on loopback, so a plain HTTP connector is all it needs.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// The browser, the server it visits, and where screenshots go.
struct Tab {
    c: Client,
    base: String,
    shots: PathBuf,
}

impl Tab {
    async fn open(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    /// Waits for an element (polling through fantoccini's wait).
    async fn wait(&self, locator: Locator<'_>) -> Element {
        self.c
            .wait()
            .at_most(PATIENCE)
            .every(Duration::from_millis(50))
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("waiting for {locator:?}: {e}"))
    }

    async fn css(&self, css: &str) -> Element {
        self.wait(Locator::Css(css)).await
    }

    /// Waits until the main content contains `text`.
    async fn text(&self, text: &str) -> Element {
        let xpath = format!("//main[contains(normalize-space(.), \"{text}\")]");
        self.wait(Locator::XPath(&xpath)).await
    }

    /// Waits for a notice with `text` (the confirmation after an action).
    async fn notice(&self, text: &str) {
        let xpath = format!("//p[@class='notice'][contains(., \"{text}\")]");
        self.wait(Locator::XPath(&xpath)).await;
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.css(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.css(css).await.click().await.expect("click");
    }

    async fn path_and_query(&self) -> String {
        let url = self.c.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the browser is on a path starting with `prefix`.
    async fn on(&self, prefix: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.path_and_query().await;
            if now.starts_with(prefix) {
                return now;
            }
            assert!(Instant::now() < deadline, "still on {now}, not {prefix}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("save screenshot");
    }

    /// A screenshot the README shows: in `target/e2e-screenshots/` always, and in
    /// `docs/screenshots/` when `UDAM_UPDATE_SCREENSHOTS=1`.
    async fn doc_shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), &png).expect("save screenshot");
        if std::env::var("UDAM_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::write(docs.join(format!("{name}.png")), &png).expect("save doc screenshot");
        }
    }

    /// Asserts that every visible form field has a label.
    async fn all_labelled(&self) {
        let unlabelled = self
            .c
            .execute(
                "return Array.from(document.querySelectorAll(\
                 'input:not([type=hidden]), select, textarea'))\
                 .filter(e => !e.labels || e.labels.length === 0)\
                 .map(e => e.name || e.id);",
                vec![],
            )
            .await
            .expect("script");
        let path = self.path_and_query().await;
        assert_eq!(unlabelled, json!([]), "unlabelled fields on {path}");
    }

    /// Axe-style checks of the rendered page: a language, one `h1`, a `main`
    /// landmark, a labelled search landmark, alt text on images, no duplicate ids,
    /// and labels on every field. Returns the problems found (none expected).
    async fn accessibility_problems(&self) -> serde_json::Value {
        self.all_labelled().await;
        self.c
            .execute(
                "const p = [];\
                 if (!document.documentElement.lang) p.push('html has no lang');\
                 const h1 = document.querySelectorAll('h1').length;\
                 if (h1 !== 1) p.push(h1 + ' h1 elements');\
                 if (document.querySelectorAll('main, [role=main]').length !== 1) p.push('no single main');\
                 if (!document.querySelector('[role=search], search')) p.push('no search landmark');\
                 document.querySelectorAll('img:not([alt])').forEach(i => p.push('img without alt: ' + i.src));\
                 const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);\
                 ids.filter((id, i) => ids.indexOf(id) !== i).forEach(id => p.push('duplicate id ' + id));\
                 document.querySelectorAll('nav').forEach(n => { if (document.querySelectorAll('nav').length > 1 \
                   && !n.getAttribute('aria-label') && !n.getAttribute('aria-labelledby')) p.push('unnamed nav'); });\
                 document.querySelectorAll('a').forEach(a => { if (!a.textContent.trim() && !a.getAttribute('aria-label')) \
                   p.push('link without text: ' + a.href); });\
                 return p;",
                vec![],
            )
            .await
            .expect("script")
    }

    /// True when the page is no wider than the window (no sideways scrolling).
    async fn fits(&self) -> bool {
        self.c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .expect("script")
            .as_bool()
            .unwrap_or(false)
    }

    async fn sign_up(&self, email: &str, name: &str) {
        self.open("/signup").await;
        self.all_labelled().await;
        self.fill("#email", email).await;
        self.fill("#display_name", name).await;
        self.fill("#password", "correct horse battery").await;
        self.click("main form button[type=submit]").await;
        self.notice("Welcome! Your account is ready.").await;
        let header = self.css("header.site").await.text().await.expect("header");
        assert!(header.contains(&format!("Signed in as {name}")), "{header}");
    }

    async fn sign_in(&self, email: &str) {
        self.open("/signin").await;
        self.fill("#email", email).await;
        self.fill("#password", "correct horse battery").await;
        self.click("main form button[type=submit]").await;
        self.css("#signout").await;
    }

    async fn sign_out(&self) {
        self.click("#signout").await;
        self.notice("You are signed out.").await;
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_journey_sell_buy_pay_revoke_sign_out() {
    // The test clock lets the journey move past the payout hold without waiting a week.
    let app = TestApp::spawn_with(Backend::Sqlite, &["--dev-payout-test-clock"]).await;
    let driver = ChromeDriver::start().await;
    let tab = Tab {
        c: driver.session().await,
        base: app.base.clone(),
        shots: screenshot_dir(),
    };
    // Close the browser even when an assertion fails, then report the failure.
    let outcome = std::panic::AssertUnwindSafe(journey(&app, &tab))
        .catch_unwind()
        .await;
    let _ = tab.c.clone().close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn journey(app: &TestApp, tab: &Tab) {
    const KEY: &str = "sk_lighthouse_live_0123456789";

    // Keyboard users land on the skip link first.
    tab.open("/").await;
    tab.css("body")
        .await
        .send_keys("\u{E004}")
        .await
        .expect("Tab key");
    let focused = tab.c.active_element().await.expect("focus");
    assert_eq!(focused.text().await.expect("text"), "Skip to content");

    // A seller signs up and lists a service.
    tab.sign_up("sally@example.com", "Sally Seller").await;
    tab.click("nav a[href='/sell']").await;
    tab.all_labelled().await;
    tab.fill("#service_name", "Lighthouse Weather API").await;
    tab.fill("#description", "Wind and waves for every lighthouse.")
        .await;
    tab.fill("#price", "1.00").await;
    tab.css("#currency")
        .await
        .select_by_value("usd")
        .await
        .expect("currency");
    tab.fill("#units", "20").await;
    tab.fill("#api_key", KEY).await;
    tab.click("main form button[type=submit]").await;
    tab.notice("Your listing is live.").await;
    tab.text("$1.00 per 1,000 requests").await;
    assert_eq!(tab.css("#units-left").await.text().await.unwrap(), "20");
    tab.sign_out().await;

    // A buyer signs up and finds it by search.
    tab.sign_up("bob@example.com", "Bob Buyer").await;
    tab.fill("#q", "lighthouse").await;
    tab.click("form.search button[type=submit]").await;
    tab.on("/?q=lighthouse").await;
    let card = tab.css("li.card h2 a").await;
    assert_eq!(card.text().await.unwrap(), "Lighthouse Weather API");
    assert_eq!(
        tab.c.find_all(Locator::Css("li.card")).await.unwrap().len(),
        1
    );
    tab.text("20 units left").await;
    // The matched word is marked in the card, and the search page passes the checks.
    let marked = tab.css("li.card h2 a mark").await;
    assert_eq!(marked.text().await.unwrap(), "Lighthouse");
    assert_eq!(tab.accessibility_problems().await, json!([]));
    tab.shot("home-search").await;
    card.click().await.expect("open the listing");

    // A small order is fulfilled at once, and its token shows (masked, then revealed).
    tab.all_labelled().await;
    tab.fill("#units", "2").await;
    tab.click(".buy button[type=submit]").await;
    let landed = tab.on("/tokens?notice=order_fulfilled&order=").await;
    let small_order = landed.rsplit('=').next().unwrap().to_owned();
    tab.notice("Your order is fulfilled.").await;
    let token = tab
        .css(&format!("li.token[data-order='{small_order}']"))
        .await;
    let value = token.find(Locator::Css(".token-value")).await.unwrap();
    assert!(
        !value.is_displayed().await.unwrap(),
        "masked until revealed"
    );
    assert!(token.text().await.unwrap().contains("••••••••6789"));
    token
        .find(Locator::Css("summary"))
        .await
        .unwrap()
        .click()
        .await
        .expect("reveal");
    assert_eq!(value.text().await.unwrap(), KEY);
    // The page script (allowed by the CSP as 'self') added a copy button.
    let copy = token.find(Locator::Css("button.copy")).await.unwrap();
    assert!(copy.is_displayed().await.unwrap(), "app.js ran");
    tab.shot("tokens").await;

    // A large order goes through the dev checkout; paying it issues the second token.
    tab.open("/?q=lighthouse").await;
    tab.click("li.card h2 a").await;
    assert_eq!(tab.css("#units-left").await.text().await.unwrap(), "18");
    tab.fill("#units", "10").await;
    tab.click(".buy button[type=submit]").await;
    tab.css(".banner-sim").await;
    tab.text("Simulation").await;
    let checkout = tab.on("/dev/checkout/dck_").await;
    // The checkout is reached by its token; the page names the order it pays.
    let large_order = tab.css("dl.summary code").await.text().await.unwrap();
    assert!(
        large_order.starts_with("ord_") && !checkout.contains(&large_order),
        "{checkout} {large_order}"
    );
    tab.text("$10.00").await;
    tab.shot("checkout").await;
    tab.click("form[action$='/pay'] button").await;
    tab.on(&format!("/orders/{large_order}/success")).await;
    tab.text("Thank you, your order is fulfilled").await;
    tab.click("a[href^='/tokens?order=']").await;
    tab.css(&format!("li.token.highlight[data-order='{large_order}']"))
        .await;
    assert_eq!(
        tab.c
            .find_all(Locator::Css("li.token"))
            .await
            .unwrap()
            .len(),
        2
    );
    tab.open("/orders").await;
    tab.css(&format!("#order-{large_order}")).await;
    let orders = tab.css("#orders").await.text().await.unwrap();
    assert!(
        orders.contains("$10.00") && orders.contains("$2.00"),
        "{orders}"
    );
    assert!(!orders.contains("Awaiting payment"), "{orders}");
    // The $2.00 owed for the small order is settled through the same checkout.
    tab.open("/balance").await;
    tab.click("#balance-usd button[type=submit]").await;
    tab.css(".banner-sim").await;
    tab.text("Settlement of your balance").await;
    tab.text("$2.00").await;
    tab.click("form[action$='/pay'] button").await;
    tab.on("/balance").await;
    tab.css("#nothing-owed").await;
    tab.sign_out().await;

    // The seller sees both sales and revokes the small order's token.
    tab.sign_in("sally@example.com").await;
    tab.open("/dashboard").await;
    tab.css(&format!("#sale-{small_order}")).await;
    tab.css(&format!("#sale-{large_order}")).await;
    let sales = tab.css("#sales").await.text().await.unwrap();
    assert!(
        sales.contains("$2.00") && sales.contains("$10.00"),
        "{sales}"
    );
    let listing = tab.css("li.managed").await.text().await.unwrap();
    assert!(listing.contains("8 units left"), "{listing}");
    tab.all_labelled().await;
    tab.shot("dashboard").await;
    seller_figures(app, tab).await;
    tab.click(&format!("#sale-{small_order} summary")).await;
    tab.click(&format!("#sale-{small_order} button.danger"))
        .await;
    tab.notice("The token was revoked.").await;
    let row = tab.css(&format!("#sale-{small_order}")).await;
    assert!(row.text().await.unwrap().contains("Revoked"));
    let other = tab.css(&format!("#sale-{large_order}")).await;
    assert!(!other.text().await.unwrap().contains("Revoked"));
    tab.sign_out().await;

    // The buyer sees it revoked; the other token still works.
    tab.sign_in("bob@example.com").await;
    tab.open("/tokens").await;
    let revoked = tab
        .css(&format!("li.token[data-order='{small_order}']"))
        .await;
    let text = revoked.text().await.unwrap();
    assert!(
        text.contains("Revoked") && text.contains("no longer works"),
        "{text}"
    );
    assert!(revoked.find(Locator::Css(".token-value")).await.is_err());
    let active = tab
        .css(&format!("li.token[data-order='{large_order}']"))
        .await;
    assert!(active.text().await.unwrap().contains("Active"));
    tab.shot("tokens-revoked").await;

    // Small screens: 360 px wide, nothing scrolls sideways.
    tab.c.set_window_size(360, 740).await.expect("resize");
    for path in ["/", "/tokens", "/orders", "/balance"] {
        tab.open(path).await;
        tab.css("main h1").await;
        assert!(tab.fits().await, "{path} scrolls sideways at 360 px");
    }
    tab.open("/").await;
    tab.css("li.card").await;
    tab.shot("home-360").await;
    tab.c.set_window_size(1100, 850).await.expect("resize");

    // Signed out, a protected page sends the buyer to sign in.
    tab.sign_out().await;
    tab.open("/tokens").await;
    assert_eq!(tab.on("/signin").await, "/signin?next=%2Ftokens");
    tab.text("Sign in").await;
    assert!(tab.c.find(Locator::Css("#signout")).await.is_err());
    let missing: Result<Element, CmdError> = tab.c.find(Locator::Css("li.token")).await;
    assert!(missing.is_err(), "no token is shown signed out");
}

/// The seller's figures: the revenue chart adds up the two sales, the earnings are
/// held, then a payout run (the administrator's, past the hold on the test clock)
/// pays them and the payout is listed as simulated. Leaves the dashboard open.
async fn seller_figures(app: &TestApp, tab: &Tab) {
    // $2.00 (settled from the balance) + $10.00 (paid at checkout), today.
    let caption = tab
        .css("#revenue-usd figcaption")
        .await
        .text()
        .await
        .unwrap();
    assert!(caption.contains("Total $12.00"), "{caption}");
    let bars = tab
        .c
        .find_all(Locator::Css("#revenue-usd rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 30, "one bar a day for 30 days");
    // The numbers behind the chart, as a table.
    tab.click("#revenue-usd details.chart-table summary").await;
    let table = tab.css("#revenue-usd table").await.text().await.unwrap();
    assert!(table.contains("$12.00"), "{table}");
    let held = tab.css("#earnings-usd dd.held").await.text().await.unwrap();
    assert_eq!(held, "$12.00");
    tab.css("#no-payouts").await;
    let units = tab.css("#units-sold").await.text().await.unwrap();
    assert!(
        units.contains("Lighthouse Weather API") && units.contains("12"),
        "{units}"
    );
    // The 90-day view shows the same sales.
    tab.click("nav.range a[href='/dashboard?range=90']").await;
    tab.on("/dashboard?range=90").await;
    let caption = tab
        .css("#revenue-usd figcaption")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        caption.contains("last 90 days") && caption.contains("$12.00"),
        "{caption}"
    );

    // A week and a day later, the administrator runs payouts (as `udam payouts run`
    // does); the dev provider records it as a simulation.
    app.state
        .config
        .payouts
        .advance_test_clock(Duration::from_secs(8 * 86_400))
        .expect("test clock on");
    let admin = crate::payouts::admin(app).await;
    assert_eq!(crate::payouts::run_payouts(app, &admin).await, (1, 1));
    tab.open("/dashboard").await;
    let payout = tab.css("#payouts tbody tr").await.text().await.unwrap();
    assert!(
        payout.contains("$12.00") && payout.contains("Paid") && payout.contains("Simulated"),
        "{payout}"
    );
    let paid = tab
        .css("#earnings-usd dd.paid-out")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(paid, "$12.00");
    tab.css("a#payouts-account[href='/dashboard/payouts']")
        .await;
    let problems = tab
        .c
        .execute(
            "const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);\
             return ids.filter((id, i) => ids.indexOf(id) !== i);",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(problems, json!([]), "duplicate ids on the dashboard");
    // The whole dashboard in one screenshot, for the README.
    tab.c.set_window_size(1100, 2300).await.expect("resize");
    tab.css("#revenue-usd").await;
    tab.doc_shot("dashboard").await;
    tab.c.set_window_size(360, 740).await.expect("resize");
    tab.open("/dashboard").await;
    tab.css("#revenue-usd").await;
    assert!(tab.fits().await, "the dashboard scrolls sideways at 360 px");
    tab.c
        .execute(
            "document.getElementById('revenue').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll to the chart");
    tab.doc_shot("dashboard-360").await;
    tab.c.set_window_size(1100, 850).await.expect("resize");
    tab.open("/dashboard").await;
}
