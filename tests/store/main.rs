//! The store conformance suite: every operation of the store's traits, run
//! against the store itself (no HTTP) on SQLite and on PostgreSQL, in the
//! style of atuin's database tests. One file per trait; each scenario gets a
//! fresh database.

mod helpers;

mod audit;
mod codes;
mod factors;
mod housekeeping;
mod keys;
mod liveness;
mod locks;
mod moderation;
mod oauth;
mod outbox;
mod passkeys;
mod registrations;
mod service_clients;
mod sessions;
mod store;
mod throttle;
mod users;
