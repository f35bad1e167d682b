//! Loopback servers for the stand-ins of outside services.

use actix_web::{web, App, HttpServer};
use std::net::TcpListener;

/// A port that was free a moment ago, for a server a test starts later.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
