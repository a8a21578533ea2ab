//! Browser tests: a real headless Chromium, driven over WebDriver (chromedriver), against a `TestApp`.
//!
//! One chromedriver serves the whole test binary: started on first use on a free port, killed when the
//! process exits. At most [`MAX_BROWSERS`] browsers run at once; [`Browser::open`] waits for a slot.
//! Every `wait_*` helper polls every 50 ms for up to 10 s (no fixed sleeps) and on time-out panics with
//! what it waited for, the page's URL and text, and a screenshot in `<screenshot dir>/failures`.
//!
//! Environment: `PARLEY_CHROMEDRIVER` (default `chromedriver` on `PATH`), `PARLEY_CHROMIUM` (default
//! `/usr/bin/chromium`), `PARLEY_SCREENSHOT_DIR` (default `<target dir>/screenshots`).
//!
//! ```ignore
//! let app = spawn_app_with(Backend::Sqlite, &[]).await.unwrap();
//! let browser = Browser::open(&app).await;
//! browser.login().await;
//! browser.click("[data-testid=conversation-row]").await;
//! browser.wait_for_text("[data-testid=thread]", "Ciao").await;
//! browser.screenshot("thread").await;
//! browser.close().await;
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::TestApp;

mod agents;
mod cluster;
mod contacts;
mod docs;
mod email;
mod inbox;
mod meta;
mod quick_replies;
mod reports;
mod smoke;
mod voice;
mod widget;

/// Browsers open at once (the CI machine has two cores).
pub const MAX_BROWSERS: usize = 2;
const POLL: Duration = Duration::from_millis(50);
const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery";

static SLOTS: Semaphore = Semaphore::const_new(MAX_BROWSERS);
static DRIVER: OnceLock<Result<String, String>> = OnceLock::new();
static DRIVER_PROCESS: Mutex<Option<Child>> = Mutex::new(None);
static FAILURES: AtomicUsize = AtomicUsize::new(0);

/// How to open a browser; `Options::default()` is English, 1280×800, 10 s waits.
#[derive(Debug, Clone)]
pub struct Options {
    /// Browser language (`--lang` and `Accept-Language`/`navigator.languages`), e.g. `"it"`.
    pub lang: &'static str,
    pub width: u32,
    pub height: u32,
    /// How long the `wait_*` helpers (and `click`, `text`, …) wait.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { lang: "en", width: 1280, height: 800, timeout: Duration::from_secs(10) }
    }
}

/// One headless Chromium session pointed at one `TestApp`. Close it with [`Browser::close`]; if the test
/// panics first, dropping it ends the session.
pub struct Browser {
    client: Client,
    base: String,
    driver: &'static str,
    session: String,
    timeout: Duration,
    closed: bool,
    _slots: Arc<SemaphorePermit<'static>>,
}

impl Browser {
    /// Opens an English 1280×800 browser for `app`.
    pub async fn open(app: &TestApp) -> Browser {
        Browser::open_with(app, Options::default()).await
    }

    /// Opens a browser for `app` with a language, window size or timeout.
    pub async fn open_with(app: &TestApp, options: Options) -> Browser {
        let driver = driver();
        let slots = Arc::new(SLOTS.acquire().await.expect("browser slots"));
        Browser::start(&app.base, options, driver, slots).await
    }

    /// Opens an English 1280×800 browser for the server at `base` (a node of a cluster).
    pub async fn open_at(base: &str) -> Browser {
        let slots = Arc::new(SLOTS.acquire().await.expect("browser slots"));
        Browser::start(base, Options::default(), driver(), slots).await
    }

    /// Opens `n` browsers at once (e.g. two operators watching the same account). A test that needs
    /// more than one browser must open them together like this: opening them one by one could wait
    /// forever for a slot held by another test doing the same.
    pub async fn open_many(app: &TestApp, n: usize, options: Options) -> Vec<Browser> {
        assert!(n <= MAX_BROWSERS, "at most {MAX_BROWSERS} browsers at once");
        let driver = driver();
        let slots = Arc::new(SLOTS.acquire_many(n as u32).await.expect("browser slots"));
        let mut browsers = Vec::with_capacity(n);
        for _ in 0..n {
            browsers.push(Browser::start(&app.base, options.clone(), driver, slots.clone()).await);
        }
        browsers
    }

    async fn start(
        base: &str,
        options: Options,
        driver: &'static str,
        slots: Arc<SemaphorePermit<'static>>,
    ) -> Browser {
        let chromium = chromium_binary();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    format!("--window-size={},{}", options.width, options.height),
                    format!("--lang={}", options.lang),
                ],
                "prefs": {"intl.accept_languages": options.lang},
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(driver)
            .await
            .unwrap_or_else(|e| panic!("chromedriver at {driver} could not start Chromium ({chromium}): {e}"));
        let session = client.session_id().await.expect("session id").expect("session id");
        Browser {
            client,
            base: base.to_owned(),
            driver,
            session,
            timeout: options.timeout,
            closed: false,
            _slots: slots,
        }
    }

    /// The underlying WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `path` on the app (e.g. `/` or `/#/contacts`), or to a full URL.
    pub async fn goto(&self, path: &str) {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        self.client.goto(&url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.client.refresh().await.unwrap_or_else(|e| panic!("reload: {e}"));
    }

    /// The page's current URL.
    pub async fn current_url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<unknown: {e}>"))
    }

    /// Opens `/` and logs in as the bootstrap admin, waiting for `[data-testid=inbox]`.
    pub async fn login(&self) {
        self.goto("/").await;
        self.submit_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        self.wait_for("[data-testid=inbox]").await;
    }

    /// Fills and submits the login form (already on screen or about to be) without waiting for the result.
    pub async fn submit_login(&self, email: &str, password: &str) {
        self.clear("[data-testid=login-email]").await;
        self.type_into("[data-testid=login-email]", email).await;
        self.clear("[data-testid=login-password]").await;
        self.type_into("[data-testid=login-password]", password).await;
        self.click("[data-testid=login-submit]").await;
    }

    /// Waits until an element matching `css` is displayed, and returns the first such element.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Ok(Some(element)) = self.first_visible(css).await {
                return element;
            }
            if Instant::now() > deadline {
                self.fail(&format!("no visible element matches `{css}`")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until a displayed element matching `css` has `text` in its visible text.
    pub async fn wait_for_text(&self, css: &str, text: &str) {
        let script = "return [...document.querySelectorAll(arguments[0])]
            .some(e => e.checkVisibility() && e.innerText.includes(arguments[1]));";
        self.poll(script, json!([css, text]), &format!("no visible `{css}` contains {text:?}")).await;
    }

    /// Waits until no displayed element matches `css` (it was removed or hidden).
    pub async fn wait_gone(&self, css: &str) {
        let script = "return ![...document.querySelectorAll(arguments[0])].some(e => e.checkVisibility());";
        self.poll(script, json!([css]), &format!("`{css}` is still visible")).await;
    }

    /// Waits until the JavaScript expression `condition` is truthy, e.g. `"document.title === 'Parley'"`.
    pub async fn wait_until(&self, condition: &str) {
        self.poll(&format!("return !!({condition});"), json!([]), &format!("`{condition}` stayed false")).await;
    }

    /// Clicks the first displayed element matching `css` (waiting for one, retrying while another element
    /// covers it).
    pub async fn click(&self, css: &str) {
        self.with_element(css, "click", |e| async move { e.click().await }).await;
    }

    /// Types `text` into the first displayed element matching `css`, after what it already holds.
    /// Special keys: `fantoccini::key::Key` as `char`, e.g. `format!("{}", char::from(Key::Enter))`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.with_element(css, "type into", |e| async move { e.send_keys(text).await }).await;
    }

    /// Empties the input or textarea matching `css`.
    pub async fn clear(&self, css: &str) {
        self.with_element(css, "clear", |e| async move { e.clear().await }).await;
    }

    /// Sends `keys` to the focused element; modifier keys stay down until the end of `keys`, so
    /// `[Key::Shift, Key::Enter]` is Shift+Enter.
    pub async fn press(&self, keys: &[Key]) {
        let keys: String = keys.iter().map(|&k| char::from(k)).collect();
        let element = self.client.active_element().await.expect("focused element");
        element.send_keys(&keys).await.unwrap_or_else(|e| panic!("press {keys:?}: {e}"));
    }

    /// Presses Enter in the focused element.
    pub async fn press_enter(&self) {
        self.press(&[Key::Enter]).await;
    }

    /// The visible text of the first displayed element matching `css` (waiting for one).
    pub async fn text(&self, css: &str) -> String {
        self.with_element(css, "read the text of", |e| async move { e.text().await }).await
    }

    /// How many elements match `css` now, displayed or not (does not wait).
    pub async fn count(&self, css: &str) -> usize {
        let n = self.execute("return document.querySelectorAll(arguments[0]).length;", json!([css])).await;
        n.as_u64().expect("count") as usize
    }

    /// Attribute `name` of the first displayed element matching `css` (waiting for one).
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.with_element(css, "read an attribute of", |e| async move { e.attr(name).await }).await
    }

    /// Runs JavaScript as a function body (use `return` for a value) and returns its JSON result.
    pub async fn exec(&self, js: &str) -> Value {
        self.execute(js, json!([])).await
    }

    /// Saves a PNG of the viewport as `<screenshot dir>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Ends the session and closes Chromium.
    pub async fn close(mut self) {
        self.closed = true;
        self.client.clone().close().await.expect("close browser");
    }

    async fn execute(&self, js: &str, args: Value) -> Value {
        let Value::Array(args) = args else { panic!("script arguments must be an array") };
        self.client.execute(js, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{js}"))
    }

    async fn poll(&self, script: &str, args: Value, failure: &str) {
        let Value::Array(args) = args else { panic!("script arguments must be an array") };
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.client.execute(script, args.clone()).await {
                Ok(Value::Bool(true)) => return,
                Ok(_) => {}
                Err(e) if is_script_error(&e) => panic!("script failed: {e}\n{script}"),
                Err(_) => {} // e.g. the page is navigating
            }
            if Instant::now() > deadline {
                self.fail(failure).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn first_visible(&self, css: &str) -> Result<Option<Element>, CmdError> {
        for element in self.client.find_all(Locator::Css(css)).await? {
            if element.is_displayed().await? {
                return Ok(Some(element));
            }
        }
        Ok(None)
    }

    /// Runs `action` on the first displayed element matching `css`, retrying until it succeeds or time
    /// runs out (the element may not be there yet, be covered or be replaced while we act).
    async fn with_element<'a, T, F, Fut>(&'a self, css: &str, what: &str, action: F) -> T
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<T, CmdError>> + 'a,
    {
        let deadline = Instant::now() + self.timeout;
        let mut last = String::from("no visible element matches");
        loop {
            match self.first_visible(css).await {
                Ok(Some(element)) => match action(element).await {
                    Ok(value) => return value,
                    Err(e) => last = e.to_string(),
                },
                Ok(None) => {}
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                self.fail(&format!("could not {what} `{css}`: {last}")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Panics with `what`, the page's URL and text, after saving a screenshot.
    async fn fail(&self, what: &str) -> ! {
        let url = self.current_url().await;
        let text = self
            .client
            .execute("return document.body ? document.body.innerText : '';", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(|s| s.chars().take(600).collect::<String>()))
            .unwrap_or_default();
        let name = failure_name();
        let shot = match self.client.screenshot().await {
            Ok(png) => {
                let dir = screenshot_dir().join("failures");
                let path = dir.join(format!("{name}.png"));
                let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png));
                match saved {
                    Ok(()) => path.display().to_string(),
                    Err(e) => format!("not saved: {e}"),
                }
            }
            Err(e) => format!("not taken: {e}"),
        };
        panic!("browser: {what} after {:?}\n  url: {url}\n  screenshot: {shot}\n  page text: {text:?}", self.timeout)
    }
}

impl Drop for Browser {
    /// Ends the session even when a test panics (its runtime may be gone, so this is plain blocking HTTP).
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let address = self.driver.trim_start_matches("http://").to_owned();
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session
        );
        let _ = std::thread::spawn(move || {
            if let Ok(mut stream) = TcpStream::connect(&address) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = stream.write_all(request.as_bytes());
                let _ = stream.read_to_end(&mut Vec::new());
            }
        })
        .join();
    }
}

/// Where screenshots go: `PARLEY_SCREENSHOT_DIR`, else `<target dir>/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("PARLEY_SCREENSHOT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap_or(Path::new("target")).join("screenshots"),
    }
}

fn is_script_error(e: &CmdError) -> bool {
    matches!(e, CmdError::Standard(w) if w.error == fantoccini::error::ErrorStatus::JavascriptError)
}

/// A file name for a failure screenshot (in `<screenshot dir>/failures`): the test's name (its
/// thread's) and a counter.
fn failure_name() -> String {
    let thread = std::thread::current();
    let test: String = thread
        .name()
        .unwrap_or("test")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{test}-{}", FAILURES.fetch_add(1, Ordering::Relaxed))
}

fn chromium_binary() -> String {
    std::env::var("PARLEY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// The shared chromedriver's URL, starting it on first use.
fn driver() -> &'static str {
    match DRIVER.get_or_init(start_driver) {
        Ok(url) => url,
        Err(message) => panic!("{message}"),
    }
}

const INSTALL: &str = "install Debian's `chromium` and `chromium-driver` (scripts/test does so when run as root), \
     or point PARLEY_CHROMEDRIVER / PARLEY_CHROMIUM at them";

fn start_driver() -> Result<String, String> {
    let chromium = chromium_binary();
    if !Path::new(&chromium).exists() {
        return Err(format!("browser tests need Chromium, not found at {chromium}: {INSTALL}"));
    }
    let binary = std::env::var("PARLEY_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for chromedriver: {e}"))?
        .port();
    let mut child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("browser tests need chromedriver, could not run `{binary}` ({e}): {INSTALL}"))?;
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("chromedriver (`{binary}`) exited with {status} before listening on port {port}"));
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            return Err(format!("chromedriver (`{binary}`) did not listen on port {port} within 10 s"));
        }
        std::thread::sleep(POLL);
    }
    *DRIVER_PROCESS.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
    // SAFETY: registers a plain function with the C library, to run once when the process exits.
    unsafe { atexit(stop_driver) };
    Ok(format!("http://127.0.0.1:{port}"))
}

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn stop_driver() {
    if let Some(mut child) = DRIVER_PROCESS.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
