//! Who acts, from where, with which session: the use cases' own vocabulary.
//! The HTTP layer builds these from a request (`crate::http`); the operator's
//! commands and tests build them directly, without a web framework.

use crate::domain::{Locale, Role};
use crate::error::FlowError;
use crate::store::{Session, User};
use std::net::IpAddr;
use uuid::Uuid;

/// Where a request came from: recorded on sessions and in the audit log, and
/// the key of per-client limits.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client's address (behind trusted proxies, the nearest untrusted
    /// hop).
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The id under which the request is logged.
    pub request_id: Option<String>,
    /// The mail language the client asked for.
    pub locale: Option<Locale>,
}

impl Origin {
    /// An operator's command on the server itself (no network client).
    pub fn operator() -> Self {
        Origin {
            user_agent: Some("portcullis (operator command)".into()),
            ..Origin::default()
        }
    }

    pub fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }

    /// The unit of per-client limits: the address, or its /64 for IPv6 (one
    /// subscriber usually holds a whole /64).
    pub fn limit_key(&self) -> Option<String> {
        self.ip.map(|ip| match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        })
    }
}

/// A signed-in user acting through a live session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session as it was read to check that it is alive.
    pub session: Session,
    /// Its user, read in the same statement (role, ban and profile as they
    /// are now, not as the token says).
    pub user: User,
    /// What the access token of this request says about the proof: its
    /// `auth_time` (Unix seconds) and whether it is `aal2`. A token issued
    /// before a step-up keeps its own, older proof: sensitive changes judge
    /// the token, not the session it belongs to (RFC 9470).
    pub token_proof: (i64, bool),
}

/// An administrator: a caller whose current role (read from the database,
/// not taken from the token) is ADMIN or above, and who is not banned.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Its user is the administrator as it is now.
    pub auth: Caller,
}

impl Admin {
    pub fn role(&self) -> Role {
        self.auth.user.role
    }

    /// For operations reserved to SUPER-ADMINs.
    pub fn require_super_admin(&self) -> Result<(), FlowError> {
        if self.auth.user.role == Role::SuperAdmin {
            Ok(())
        } else {
            Err(self.refuse("only a SUPER-ADMIN may do this"))
        }
    }

    /// A 403 for this administrator, logged: authorization failures are
    /// security events (who tried what is in the request's span).
    pub fn refuse(&self, why: &'static str) -> FlowError {
        refused(self.auth.user.id, self.auth.user.role, why)
    }
}

/// Refuses an authorization and logs who was refused and why.
pub fn refused(user_id: Uuid, role: Role, why: &'static str) -> FlowError {
    tracing::warn!(user_id = %user_id, role = role.as_str(), reason = why, "authorization refused");
    FlowError::Forbidden(why)
}
