//! Tells the test suite whether PostgreSQL tests can run: with `PARLEY_TEST_POSTGRES_URL` set at
//! build time they run, otherwise they are reported as ignored instead of passing unrun. Also
//! rebuilds when a migration changes: they are embedded by `sqlx::migrate!`, which cargo does not
//! track by itself.

fn main() {
    println!("cargo::rerun-if-env-changed=PARLEY_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rustc-check-cfg=cfg(parley_postgres_tests)");
    if std::env::var_os("PARLEY_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=parley_postgres_tests");
    }
}
