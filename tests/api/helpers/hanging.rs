//! An outside service that hangs: it accepts connections and never answers,
//! the worst case for a caller (a refused port fails at once).

use super::TestApp;
use reqwest::StatusCode;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Starts a listener that holds every connection open without a byte of
/// answer; returns its base URL.
pub async fn hanging_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    base
}

/// Runs `held_up` (requests waiting on a hanging service) and meanwhile
/// asks for the current session of `access` again and again: each answer
/// must come back quickly and all of them before `held_up` is over, so the
/// wait ties up nothing the rest of the service needs. Returns `held_up`'s
/// output and how long it took.
pub async fn nothing_else_waits<T>(
    app: &TestApp,
    access: &str,
    held_up: impl Future<Output = T>,
) -> (T, Duration) {
    let started = Instant::now();
    let held_up = async {
        let output = held_up.await;
        (output, started.elapsed())
    };
    let others = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for _ in 0..10 {
            let asked = Instant::now();
            let response = app.get("/v1/sessions/current", Some(access)).await;
            assert_eq!(response.status(), StatusCode::OK);
            let took = asked.elapsed();
            // Generous for a debug build on a busy machine; what it rules
            // out is waiting for the hanging service's timeout.
            assert!(took < Duration::from_millis(400), "took {took:?}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        started.elapsed()
    };
    let ((output, held_for), others_done) = tokio::join!(held_up, others);
    assert!(
        others_done < held_for,
        "the checks ran while the service hung: {others_done:?} < {held_for:?}"
    );
    (output, held_for)
}
