// Rebuild when a migration changes: they are embedded with `sqlx::migrate!`.
//
// `PORTCULLIS_TEST_POSTGRES=off` at build time marks the PostgreSQL half of
// the test suites ignored (reported as such, never as passed), for a machine
// without PostgreSQL. Otherwise those tests run, and fail with a clear
// message when the server is unreachable.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_TEST_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests_off)");
    if std::env::var("PORTCULLIS_TEST_POSTGRES").is_ok_and(|v| v == "off") {
        println!("cargo:rustc-cfg=postgres_tests_off");
    }
}
