//! The harness itself: a page renders in headless Chromium, options reach the browser, failures explain.

use std::time::Duration;

use super::{Browser, Options};
use crate::helpers::{spawn_app_with, Backend, TestApp};

async fn app() -> TestApp {
    spawn_app_with(Backend::Sqlite, &[]).await
}

/// The login form refuses a wrong password with a message, lets the right one in, and the HttpOnly
/// session survives a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_log_in_through_the_form_and_stay_logged_in() {
    let app = app().await;
    let browser = Browser::open(&app).await;
    browser.goto("/").await;
    browser.wait_for("[data-testid=login-form]").await;
    browser.submit_login("admin@example.com", "wrong horse battery").await;
    browser.wait_for_text("[data-testid=login-error]", "Wrong email or password").await;
    assert_eq!(browser.count("[data-testid=inbox]").await, 0);

    browser.login().await;
    assert_eq!(browser.exec("return document.cookie;").await, "", "the session cookie is HttpOnly");
    browser.reload().await;
    browser.wait_for("[data-testid=inbox]").await;
    assert_eq!(browser.count("[data-testid=login-form]").await, 0, "a reload keeps the session");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_language_and_window_size_follow_the_options() {
    let app = app().await;
    let options = Options { lang: "it", width: 800, height: 600, ..Options::default() };
    let browser = Browser::open_with(&app, options).await;
    browser.goto("/docs").await;
    browser.wait_until("document.readyState === 'complete'").await;
    assert_eq!(browser.exec("return navigator.languages[0];").await, "it");
    assert_eq!(browser.exec("return window.innerWidth;").await, 800);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_open_together_see_the_same_server() {
    let app = app().await;
    let browsers = Browser::open_many(&app, 2, Options::default()).await;
    for browser in &browsers {
        browser.goto("/docs").await;
        browser.wait_for("[id='parley/tag/conversations']").await;
    }
    for browser in browsers {
        browser.close().await;
    }
}

/// A wait that times out fails the test with what it waited for, the page, and a screenshot (this
/// one is removed again: the test passes, so it must leave no failure behind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_wait_names_the_selector_and_the_page() {
    let app = app().await;
    let options = Options { timeout: Duration::from_millis(300), ..Options::default() };
    let browser = Browser::open_with(&app, options).await;
    browser.goto("/docs").await;
    let failed = tokio::spawn(async move { browser.wait_for("#nowhere").await }).await.expect_err("the wait fails");
    let payload = failed.into_panic();
    let message = payload.downcast_ref::<String>().expect("a panic message");
    assert!(message.contains("no visible element matches `#nowhere`") && message.contains("/docs"), "{message}");
    let shot = message.split("screenshot: ").nth(1).and_then(|rest| rest.lines().next()).expect("a screenshot path");
    assert!(std::fs::metadata(shot).is_ok_and(|m| m.len() > 1000), "{shot}");
    std::fs::remove_file(shot).expect("remove the screenshot");
    // The failures directory goes too, unless another test's failure is in it.
    let _ = std::fs::remove_dir(std::path::Path::new(shot).parent().expect("failures directory"));
}
