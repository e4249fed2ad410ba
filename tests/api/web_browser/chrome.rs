//! Chromium over WebDriver for the browser tests: a chromedriver process on a free
//! loopback port, a headless session with a fresh profile, and [`Tab`], the steps a
//! user takes (open, wait, fill, click) with screenshots and page checks.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long any one condition may take before the test fails.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);

/// A chromedriver process of this test; killed (by its pid) when dropped.
pub(super) struct ChromeDriver {
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
    pub(super) async fn start() -> Self {
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
    pub(super) async fn session(&self) -> Client {
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
pub(super) struct Tab {
    pub(super) c: Client,
    pub(super) base: String,
    pub(super) shots: PathBuf,
}

impl Tab {
    pub(super) async fn open(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    /// Waits for an element (polling through fantoccini's wait).
    pub(super) async fn wait(&self, locator: Locator<'_>) -> Element {
        self.c
            .wait()
            .at_most(PATIENCE)
            .every(Duration::from_millis(50))
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("waiting for {locator:?}: {e}"))
    }

    pub(super) async fn css(&self, css: &str) -> Element {
        self.wait(Locator::Css(css)).await
    }

    /// Waits until the main content contains `text`.
    pub(super) async fn text(&self, text: &str) -> Element {
        let xpath = format!("//main[contains(normalize-space(.), \"{text}\")]");
        self.wait(Locator::XPath(&xpath)).await
    }

    /// Waits for a notice with `text` (the confirmation after an action).
    pub(super) async fn notice(&self, text: &str) {
        let xpath = format!("//p[@class='notice'][contains(., \"{text}\")]");
        self.wait(Locator::XPath(&xpath)).await;
    }

    pub(super) async fn fill(&self, css: &str, value: &str) {
        let field = self.css(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    pub(super) async fn click(&self, css: &str) {
        self.css(css).await.click().await.expect("click");
    }

    pub(super) async fn path_and_query(&self) -> String {
        let url = self.c.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the browser is on a path starting with `prefix`.
    pub(super) async fn on(&self, prefix: &str) -> String {
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

    pub(super) async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("save screenshot");
    }

    /// A screenshot the README shows: in `target/e2e-screenshots/` always, and in
    /// `docs/screenshots/` when `UDAM_UPDATE_SCREENSHOTS=1`.
    pub(super) async fn doc_shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), &png).expect("save screenshot");
        if std::env::var("UDAM_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::write(docs.join(format!("{name}.png")), &png).expect("save doc screenshot");
        }
    }

    /// Asserts that every visible form field has a label.
    pub(super) async fn all_labelled(&self) {
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
    /// landmark, a labelled search landmark (on pages that search: `search`), alt
    /// text on images, no duplicate ids, and labels on every field. Returns the
    /// problems found (none expected).
    pub(super) async fn accessibility_problems(&self, search: bool) -> serde_json::Value {
        self.all_labelled().await;
        self.c
            .execute(
                "const p = [];\
                 if (!document.documentElement.lang) p.push('html has no lang');\
                 const h1 = document.querySelectorAll('h1').length;\
                 if (h1 !== 1) p.push(h1 + ' h1 elements');\
                 if (document.querySelectorAll('main, [role=main]').length !== 1) p.push('no single main');\
                 if (arguments[0] && !document.querySelector('[role=search], search')) p.push('no search landmark');\
                 document.querySelectorAll('img:not([alt])').forEach(i => p.push('img without alt: ' + i.src));\
                 const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);\
                 ids.filter((id, i) => ids.indexOf(id) !== i).forEach(id => p.push('duplicate id ' + id));\
                 document.querySelectorAll('nav').forEach(n => { if (document.querySelectorAll('nav').length > 1 \
                   && !n.getAttribute('aria-label') && !n.getAttribute('aria-labelledby')) p.push('unnamed nav'); });\
                 document.querySelectorAll('a').forEach(a => { if (!a.textContent.trim() && !a.getAttribute('aria-label')) \
                   p.push('link without text: ' + a.href); });\
                 return p;",
                vec![json!(search)],
            )
            .await
            .expect("script")
    }

    /// True when the page is no wider than the window (no sideways scrolling).
    pub(super) async fn fits(&self) -> bool {
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

    pub(super) async fn sign_up(&self, email: &str, name: &str) {
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

    pub(super) async fn sign_in(&self, email: &str) {
        self.open("/signin").await;
        self.fill("#email", email).await;
        self.fill("#password", "correct horse battery").await;
        self.click("main form button[type=submit]").await;
        self.css("#signout").await;
    }

    pub(super) async fn sign_out(&self) {
        self.click("#signout").await;
        self.notice("You are signed out.").await;
    }
}

pub(super) fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}
