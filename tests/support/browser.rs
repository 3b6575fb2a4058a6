//! A real browser for the web site's tests: headless Chromium from Debian,
//! driven through its chromedriver (`CHROMEDRIVER_BIN`, started per test on
//! a free port) with fantoccini. Pages are checked with axe-core
//! (`AXE_JS`) and photographed at 390 and 1280 px wide into
//! `SCREENSHOT_DIR` (default `var/screenshots`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub struct Browser {
    pub client: Client,
    /// The web site under test, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    _driver: tokio::process::Child,
}

/// The two widths every page is photographed at: a phone and a desktop.
pub const WIDTHS: [u32; 2] = [390, 1280];

impl Browser {
    pub async fn start(base: &str) -> Self {
        let bin = std::env::var("CHROMEDRIVER_BIN").unwrap_or_else(|_| "chromedriver".into());
        let port = crate::process::free_port();
        let driver = tokio::process::Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} starts (make test installs chromium-driver): {e}"));
        let url = format!("http://127.0.0.1:{port}");
        crate::eventually(Duration::from_secs(20), "chromedriver is ready", || async {
            reqwest::get(format!("{url}/status")).await.ok().filter(|r| r.status().is_success())
        })
        .await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US"]}),
        );
        let client = ClientBuilder::native().capabilities(caps).connect(&url).await.expect("a Chromium session");
        Self { client, base: base.trim_end_matches('/').to_string(), _driver: driver }
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css(css)).await {
            Ok(el) => el,
            Err(e) => {
                let page = self.client.source().await.unwrap_or_default();
                panic!("{css} not found on {}: {e}\n{page}", self.path().await)
            }
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear a field");
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Choose `value` in the `<select>` `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
    }

    /// The current value of the form field `css`.
    pub async fn value(&self, css: &str) -> String {
        self.find(css).await.prop("value").await.ok().flatten().unwrap_or_default()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("an element's text")
    }

    /// The path of the current page.
    pub async fn path(&self) -> String {
        self.client.current_url().await.map(|u| u.path().to_string()).unwrap_or_default()
    }

    /// Wait until `css` contains `wanted` (reloading the page between
    /// looks when `reload`).
    pub async fn wait_text(&self, css: &str, wanted: &str, reload: bool) -> String {
        self.wait_until(css, &format!("shows {wanted:?}"), |t| t.contains(wanted), reload).await
    }

    /// Wait until the text of `css` satisfies `ok`; on time-out, fail with
    /// the page's text.
    pub async fn wait_until(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool, reload: bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if reload {
                let _ = self.client.refresh().await;
            }
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = el.text().await {
                    if ok(&text) {
                        return text;
                    }
                }
            }
            if std::time::Instant::now() > deadline {
                let page = match self.client.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!("timed out waiting for {css} {what} on {}; the page says:\n{page}", self.path().await);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Photograph the page at each of [`WIDTHS`] as `{name}-{width}.png`,
    /// and leave the window at desktop width.
    pub async fn screenshots(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        for width in WIDTHS {
            self.client.set_window_size(width, 1100).await.expect("resize the window");
            tokio::time::sleep(Duration::from_millis(200)).await;
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::write(dir.join(format!("{name}-{width}.png")), png).expect("write the screenshot");
        }
        self.client.set_window_size(1280, 900).await.expect("resize the window");
    }

    /// Run axe-core in the page; panic on any serious or critical violation.
    pub async fn assert_accessible(&self, page: &str) {
        self.assert_accessible_except(page, &[]).await
    }

    /// The same, leaving out the parts `exclude` selects (a third party's
    /// widget).
    pub async fn assert_accessible_except(&self, page: &str, exclude: &[&str]) {
        let axe = std::env::var("AXE_JS").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/browser/node_modules/axe-core/axe.min.js").to_string()
        });
        let source =
            std::fs::read_to_string(&axe).unwrap_or_else(|e| panic!("axe-core at {axe} (make test installs it): {e}"));
        self.client.execute(&format!("{source}\nreturn true;"), vec![]).await.expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 const context = {include: [['html']], exclude: arguments[0].map(s => [s])};
                 axe.run(context, {resultTypes: ['violations']})
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))))
                    .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
                vec![json!(exclude)],
            )
            .await
            .expect("axe-core runs");
        let bad: Vec<&Value> = found
            .as_array()
            .map(|v| v.iter().filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical"))).collect())
            .unwrap_or_default();
        assert!(bad.is_empty(), "accessibility violations on {page}: {}", serde_json::to_string_pretty(&bad).unwrap());
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn screenshot_dir() -> PathBuf {
    std::env::var("SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../var/screenshots")))
}
