//! What a store operation can fail with. Every error names the operation
//! (the repo method, such as `user_by_email`), so that a 500 in the log says
//! which query failed; the HTTP layer never shows it to clients.

use super::UniqueKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write.
    #[error("{op}: unique constraint {key} was violated")]
    Conflict { op: &'static str, key: UniqueKey },
    /// The database cannot be reached or is too busy right now; worth a retry.
    #[error("{op}: database unavailable")]
    Unavailable {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{op}: database error")]
    Other {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{op}: stored data is invalid: {detail}")]
    Corrupt { op: &'static str, detail: String },
}

impl StoreError {
    /// The store operation that failed.
    pub fn op(&self) -> &'static str {
        match self {
            StoreError::Conflict { op, .. }
            | StoreError::Unavailable { op, .. }
            | StoreError::Other { op, .. }
            | StoreError::Corrupt { op, .. } => op,
        }
    }

    /// The violated key, when a unique index refused the write.
    pub fn conflict(&self) -> Option<&UniqueKey> {
        match self {
            StoreError::Conflict { key, .. } => Some(key),
            _ => None,
        }
    }

    pub fn is_conflict_on(&self, key: UniqueKey) -> bool {
        self.conflict() == Some(&key)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_is_in_the_message_and_the_cause_is_kept() {
        let error = StoreError::Other {
            op: "user_by_email",
            source: sqlx::Error::RowNotFound,
        };
        assert_eq!(error.op(), "user_by_email");
        assert_eq!(error.to_string(), "user_by_email: database error");
        assert!(std::error::Error::source(&error).is_some());
        let conflict = StoreError::Conflict {
            op: "insert_user",
            key: UniqueKey::UsersEmail,
        };
        assert!(conflict.is_conflict_on(UniqueKey::UsersEmail));
        assert!(!conflict.is_conflict_on(UniqueKey::UsersUsername));
        assert_eq!(
            conflict.to_string(),
            "insert_user: unique constraint users_email_key was violated"
        );
    }
}
