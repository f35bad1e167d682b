//! HTTP plumbing shared by the routes: request extractors, the problem
//! details renderer, the fallback for unknown routes, request logging.

mod auth;
mod client;
mod json;
mod logging;
mod problem;

pub use auth::{Admin, Authenticated};
pub use client::ClientInfo;
pub use json::{BodyLimit, JsonBody};
pub use logging::RequestSpan;
pub use problem::{render_problems, RouteTable};
