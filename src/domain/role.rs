use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's role. Ordered: `SUPER-ADMIN` > `ADMIN` >
/// `EDITOR` > `VIEWER`; every new user starts as `VIEWER`. The admin
/// operations need `ADMIN` or above (some `SUPER-ADMIN`), and nobody grants
/// a role above their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[schema(example = "VIEWER")]
pub enum Role {
    #[serde(rename = "VIEWER")]
    Viewer,
    #[serde(rename = "EDITOR")]
    Editor,
    #[serde(rename = "ADMIN")]
    Admin,
    #[serde(rename = "SUPER-ADMIN")]
    SuperAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Editor => "EDITOR",
            Role::Admin => "ADMIN",
            Role::SuperAdmin => "SUPER-ADMIN",
        }
    }
}

impl TryFrom<String> for Role {
    type Error = super::Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "VIEWER" => Ok(Role::Viewer),
            "EDITOR" => Ok(Role::Editor),
            "ADMIN" => Ok(Role::Admin),
            "SUPER-ADMIN" => Ok(Role::SuperAdmin),
            _ => Err(super::Invalid::new("unknown role")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_privilege() {
        assert!(Role::SuperAdmin > Role::Admin);
        assert!(Role::Admin > Role::Editor);
        assert!(Role::Editor > Role::Viewer);
    }

    #[test]
    fn round_trips_through_text() {
        for role in [Role::Viewer, Role::Editor, Role::Admin, Role::SuperAdmin] {
            assert_eq!(Role::try_from(role.as_str().to_string()).unwrap(), role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
    }
}
