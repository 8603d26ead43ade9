//! Just enough of the W3C WebDriver protocol to drive headless Chromium through Debian's
//! `chromedriver`, over plain HTTP on loopback with the workspace's reqwest (no TLS, no
//! WebDriver crate): start a session, open a URL, run a script, resize, take a screenshot,
//! read the console.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use test_support::child::ChildGuard;
use test_support::{free_port, poll_until};

/// Time for chromedriver to answer `/status`, and for one WebDriver command.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `chromedriver`, killed on drop.
pub struct Driver {
    _child: ChildGuard,
    base: String,
    client: reqwest::Client,
}

/// One browser session.
pub struct Session<'a> {
    driver: &'a Driver,
    url: String,
}

/// The program named `name` on `PATH`, if any.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

impl Driver {
    /// Starts `chromedriver` on a free loopback port, logging into `log`, and waits until it
    /// is ready.
    pub async fn start(program: &Path, log: &Path) -> Driver {
        let port = free_port();
        let args = [format!("--port={port}"), "--allowed-ips=127.0.0.1".into()];
        let child = ChildGuard::spawn(program, &args, log, &[]);
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(DRIVER_TIMEOUT)
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        poll_until(DRIVER_TIMEOUT, "chromedriver to be ready", || async {
            let status: Value = client
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            status["value"]["ready"].as_bool()?.then_some(())
        })
        .await;
        Driver {
            _child: child,
            base,
            client,
        }
    }

    async fn call(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.unwrap();
        assert!(status.is_success(), "{method} {url}: {status} {body}");
        body["value"].clone()
    }

    /// A new headless session. Its network stays on loopback: every other address goes to a
    /// proxy that does not exist, and Chromium's background services are off.
    pub async fn session(&self, width: u32, height: u32) -> Session<'_> {
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
            "--proxy-server=http://127.0.0.1:9".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--disable-default-apps".into(),
            "--no-first-run".into(),
            "--no-pings".into(),
            "--disable-domain-reliability".into(),
            "--disable-client-side-phishing-detection".into(),
            "--lang=en-GB".into(),
        ];
        // Read by chromium as its locale; keeps times 24-hour and the page's text as written.
        args.push("--accept-lang=en-GB".into());
        let mut options = json!({ "args": args });
        if let Some(binary) = on_path("chromium") {
            options["binary"] = json!(binary);
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let url = format!("{}/session", self.base);
        let value = self
            .call(reqwest::Method::POST, &url, Some(capabilities))
            .await;
        let id = value["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Session {
            driver: self,
            url: format!("{}/session/{id}", self.base),
        }
    }
}

impl Session<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        self.driver
            .call(reqwest::Method::POST, &url, Some(body))
            .await
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    /// Saves a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let url = format!("{}/screenshot", self.url);
        let value = self.driver.call(reqwest::Method::GET, &url, None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("base64 text"))
            .expect("a base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    /// The browser console's entries since the last call, as `(level, message)`.
    pub async fn console(&self) -> Vec<(String, String)> {
        let entries = self.post("/se/log", json!({ "type": "browser" })).await;
        entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_string(),
                            e["message"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the session (the browser exits).
    pub async fn close(self) {
        self.driver
            .call(reqwest::Method::DELETE, &self.url, None)
            .await;
    }
}
