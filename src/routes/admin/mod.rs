//! `/v1/admin/…`: ADMIN and above (some operations SUPER-ADMIN only). The
//! role is read from the database on every request.

pub mod audit;
pub mod factors;
pub mod keys;
pub mod passkeys;
pub mod service_clients;
pub mod users;
pub mod webhooks;
