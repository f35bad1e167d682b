//! Portcullis: a headless JSON REST authentication service.
//!
//! The binary in `main.rs` is a thin command-line layer over this library; the
//! integration tests start the same [`startup::Application`] on a random port.
// No panics on a request path; unit tests may unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod flows;
pub mod hashing;
pub mod housekeeping;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod openapi;
pub mod passkeys;
pub mod pwned;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod tokens;
pub mod webhooks;
pub mod workers;
