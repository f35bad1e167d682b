//! The metrics listener: `GET /metrics` in the Prometheus text format, on
//! its own address (`metrics_listen`). A separate port, as Supabase Auth and
//! Rauthy do, rather than a path on the API port behind a secret: nothing
//! about it is reachable from where the API is exposed, and a scraper needs
//! no credentials to manage.

use super::{
    Backlog, BacklogLabels, ConnectionLabels, ConnectionState, KeyLabels, KeyState, SessionLookup,
    SessionLookupLabels,
};
use crate::state::AppState;
use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use std::net::TcpListener;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `listener` and serves the metrics of `state` on it.
pub fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(1)
    .run())
}

/// How long a scrape waits for the outbox counts.
const BACKLOG_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

async fn backlog(state: &AppState) -> Option<(i64, i64)> {
    state.store.connection().await.ok()?.backlog().await.ok()
}

async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let metrics = &state.metrics;
    let depth = i64::try_from(state.hasher.queue_depth()).unwrap_or(i64::MAX);
    metrics.hash_queue_depth.set(depth);
    let pool = state.store.connections();
    metrics
        .db_unreachable
        .set(i64::from(state.store.unreachable()));
    let gauge = |state| {
        metrics
            .db_connections
            .get_or_create(&ConnectionLabels { state })
    };
    gauge(ConnectionState::in_use).set(i64::from(pool.open.saturating_sub(pool.idle)));
    gauge(ConnectionState::idle).set(i64::from(pool.idle));
    gauge(ConnectionState::waiting).set(i64::from(pool.waiting));
    let lookups = state.store.session_lookups();
    for (result, count) in [
        (SessionLookup::remembered, lookups.remembered),
        (SessionLookup::read, lookups.read),
        (SessionLookup::unleased, lookups.unleased),
    ] {
        let counter = metrics
            .session_lookups
            .get_or_create(&SessionLookupLabels { result });
        counter.inc_by(count.saturating_sub(counter.get()));
    }
    let grouped = &metrics.grouped_rotations;
    grouped.inc_by(
        state
            .store
            .grouped_rotations()
            .saturating_sub(grouped.get()),
    );
    let keys = state.tokens.keys().states(state.clock.now());
    for (key_state, count) in [
        (KeyState::pending, keys.pending),
        (KeyState::active, keys.active),
        (KeyState::retired, keys.retired),
    ] {
        let labels = KeyLabels { state: key_state };
        metrics
            .signing_keys
            .get_or_create(&labels)
            .set(i64::from(count));
    }
    // Shared by every instance: each reports the same number (use max, not
    // sum, across instances). A scrape with the database away or slow
    // leaves the last value: it must answer within the scraper's timeout,
    // when the rest of it matters most.
    if !state.store.unreachable() {
        if let Ok(Some((mail, webhooks))) =
            tokio::time::timeout(BACKLOG_WAIT, backlog(&state)).await
        {
            for (outbox, count) in [(Backlog::mail, mail), (Backlog::webhooks, webhooks)] {
                metrics
                    .backlog
                    .get_or_create(&BacklogLabels { outbox })
                    .set(count);
            }
        }
    }
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.encode())
}
