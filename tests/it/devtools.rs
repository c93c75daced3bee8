//! Headless Chromium driven over the DevTools protocol, for tests that keep a page
//! open and act on it (the live view, the report's player, the lessons).
//!
//! Chromium runs with `--remote-debugging-port=0`; the port is read from the
//! `DevToolsActivePort` file in its profile, and the test speaks the protocol over a
//! websocket (tokio-tungstenite). Conditions are awaited by asking the page again until
//! a generous deadline, never by sleeping a fixed time.

use crate::browser::{BROWSER_TIMEOUT, FLAGS, artifacts};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest a page condition may take to hold on a loaded 2-core machine.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// A headless Chromium with one page, attached over the DevTools protocol.
pub struct Browser {
    child: tokio::process::Child,
    _profile: tempfile::TempDir,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Console errors, uncaught exceptions and failed loads the page reported.
    pub problems: Vec<String>,
}

impl Browser {
    /// Starts Chromium, opens a blank page and turns on the events the test reads.
    pub async fn launch(chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("a profile folder");
        let child = tokio::process::Command::new(chromium)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Chromium starts");
        // Chromium writes the port and the browser's websocket path once it listens.
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let text = loop {
            if let Ok(text) = std::fs::read_to_string(&active)
                && text.lines().count() >= 2
            {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "Chromium wrote no DevToolsActivePort within {BROWSER_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut lines = text.lines();
        let port = lines.next().expect("a port line").trim();
        let path = lines.next().expect("a path line").trim();
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
            .await
            .expect("the DevTools websocket opens");
        let mut browser = Browser {
            child,
            _profile: profile,
            socket,
            session: String::new(),
            next_id: 0,
            problems: Vec::new(),
        };
        let target = browser
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = browser
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            browser.call(domain, json!({})).await;
        }
        browser
    }

    /// Sends one command (to the page once attached) and waits for its answer, keeping
    /// the page's problems from the events that arrive meanwhile.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .await
            .unwrap_or_else(|error| panic!("{method} failed: {error}"))
    }

    /// Like [`Browser::call`], but a refusal (e.g. an evaluation while the page is
    /// still navigating) is returned rather than a failure of the test.
    pub async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            command["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .await
            .expect("the command is sent");
        let answer = tokio::time::timeout(BROWSER_TIMEOUT, async {
            loop {
                let message = self
                    .socket
                    .next()
                    .await
                    .expect("Chromium keeps the websocket open")
                    .expect("a websocket message");
                let Message::Text(text) = message else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).expect("DevTools speaks JSON");
                if value["id"] == json!(id) {
                    return value;
                }
                self.note_problem(&value);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("Chromium did not answer {method} within {BROWSER_TIMEOUT:?}"));
        match answer.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(answer["result"].clone()),
        }
    }

    fn note_problem(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.consoleAPICalled")
                if matches!(params["type"].as_str(), Some("error" | "assert")) =>
            {
                self.problems.push(format!("console: {}", params["args"]));
            }
            Some("Runtime.exceptionThrown") => {
                self.problems
                    .push(format!("exception: {}", params["exceptionDetails"]));
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                self.problems.push(format!("log: {}", params["entry"]));
            }
            _ => {}
        }
    }

    /// The value of a JavaScript expression in the page.
    pub async fn evaluate(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Asks the page until `expression` is true; returns how long that took. While the
    /// page is still loading, an evaluation that is refused or throws counts as "not
    /// yet".
    pub async fn wait_until(&mut self, what: &str, expression: &str) -> Duration {
        let started = Instant::now();
        loop {
            let answer = self
                .try_call(
                    "Runtime.evaluate",
                    json!({"expression": expression, "returnByValue": true}),
                )
                .await;
            if answer.is_ok_and(|result| result["result"]["value"] == json!(true)) {
                return started.elapsed();
            }
            if started.elapsed() > PAGE_DEADLINE {
                let body = self.evaluate("document.body.innerText").await;
                panic!("the page did not show {what} within {PAGE_DEADLINE:?}; it shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sets the viewport size and colour scheme.
    pub async fn emulate(&mut self, (width, height): (u32, u32), dark: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        let scheme = if dark { "dark" } else { "light" };
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Saves a PNG of the viewport into the artifacts folder.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("image data"))
            .expect("base64 image data");
        let path = artifacts().join(name);
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }

    /// Asks Chromium to close (its answer may never come: the socket closes with it) and
    /// waits for it to end; dropping the child kills it if it does not.
    pub async fn close(mut self) {
        let close = json!({"id": self.next_id + 1, "method": "Browser.close"});
        let _ = self.socket.send(Message::text(close.to_string())).await;
        let _ = tokio::time::timeout(BROWSER_TIMEOUT, self.child.wait()).await;
    }
}

/// A selector's presence as a page expression.
pub fn shows(selector: &str) -> String {
    format!("document.querySelector({}) !== null", json!(selector))
}

impl Browser {
    /// Opens `url` and waits until `ready` (a page expression) is true.
    pub async fn open(&mut self, url: &str, ready: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_until(&format!("{url} to be ready"), ready).await;
    }

    /// The page's problems so far, leaving none behind.
    pub fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }
}

impl Browser {
    /// Presses and releases one key, as a person would (the page sees real key events).
    pub async fn press(&mut self, key: &str, code: &str, key_code: u32) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": key_code}),
            )
            .await;
        }
    }

    /// Scrolls the first element matching `selector` to the middle of the window and
    /// clicks its centre with the mouse.
    pub async fn click(&mut self, selector: &str) {
        let centre = self
            .evaluate(&format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return null; \
                 e.scrollIntoView({{block: 'center', inline: 'center', behavior: 'instant'}}); \
                 const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
                json!(selector)
            ))
            .await;
        let (Some(x), Some(y)) = (centre[0].as_f64(), centre[1].as_f64()) else {
            panic!("nothing to click: {selector}");
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }
}
