//! HTTP plumbing shared by the routes: request extractors, the problem
//! details renderer, the fallback for unknown routes, request logging.

mod auth;
mod client;
mod error;
mod json;
mod logging;
mod metrics;
mod params;
mod problem;

pub use crate::flows::context::{Admin, Caller, Origin};
pub use auth::{admin_gate, EnrollingCaller};
pub use error::ApiError;
pub use json::{BodyLimit, JsonBody};
pub use logging::RequestSpan;
pub use metrics::count_requests;
pub use params::{FormBody, PathParams, QueryParams};
pub use problem::{head_as_get, literal_paths_first, render_problems, RouteTable};
