//! Black-box tests: the real application on a random port, a fresh database
//! per test (SQLite and PostgreSQL), a real SMTP listener, HTTP in between.
//! Every scenario runs on both backends (`backend_tests!`).

mod helpers;

mod account;
mod admin;
mod assurance;
mod binary;
mod commands;
mod contract;
mod email_sign_in;
mod error_shape;
mod errors;
mod github;
mod hardening;
mod linking;
mod mail;
mod metrics;
mod mfa;
mod mfa_policy;
mod otlp;
mod passkeys;
mod profile;
mod protection;
mod races;
mod recovery;
mod refresh;
mod refresh_window;
mod review;
mod services;
mod sessions;
mod sign_in;
mod signup;
mod social;
mod takeover;
mod tokens;
mod verification;
mod verifier;
mod verifier_outages;
mod webhooks;
