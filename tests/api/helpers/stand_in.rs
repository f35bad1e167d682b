//! Loopback servers for the stand-ins of outside services.

use actix_web::{web, App, HttpServer};
use std::net::TcpListener;

/// A port that was free a moment ago, for a server a test starts later.
pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768-60999 on Linux): a port from
    // that range, once released, can be taken by any outgoing connection or
    // `:0` listener of a concurrent test before this test binds it again.
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(97) % SPAN;
    for _ in 0..SPAN {
        let offset = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % SPAN;
        let port = u16::try_from(FIRST + offset).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN);
}

/// Serves the routes `configure` sets up on a loopback port, with one
/// worker, in the background; returns the base URL.
pub fn serve_stand_in(
    configure: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    base
}
