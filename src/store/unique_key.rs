//! The unique indexes a write can run into, by name instead of by string.
//!
//! PostgreSQL names the violated index; SQLite names the table and columns
//! instead (`UNIQUE constraint failed: users.email`). Both map to a
//! [`UniqueKey`] through [`KNOWN`], so flows match an enum and never an index
//! name. A unit test below reads both migration trees and fails when an index
//! is neither mapped here nor listed as impossible to violate.

use std::fmt;

/// A unique index or constraint that refused a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueKey {
    /// `users_email_key`: another account has the address.
    UsersEmail,
    /// `users_username_key`: another account has the username.
    UsersUsername,
    /// `accounts_provider_id_account_id_key`: the provider identity is
    /// already linked to an account.
    AccountsIdentity,
    /// `passkeys_credential_id_key`: the credential is registered already
    /// (to this account or another).
    PasskeysCredential,
    /// An index the store does not expect to be violated (see the test's
    /// `NEVER_VIOLATED`); the name is kept for the logs only.
    Unknown(String),
}

/// A mapped key: its index name (PostgreSQL) and its table and columns
/// (what SQLite's message names).
struct Known {
    key: UniqueKey,
    index: &'static str,
    table: &'static str,
    columns: &'static [&'static str],
}

const KNOWN: &[Known] = &[
    Known {
        key: UniqueKey::UsersEmail,
        index: "users_email_key",
        table: "users",
        columns: &["email"],
    },
    Known {
        key: UniqueKey::UsersUsername,
        index: "users_username_key",
        table: "users",
        columns: &["username"],
    },
    Known {
        key: UniqueKey::AccountsIdentity,
        index: "accounts_provider_id_account_id_key",
        table: "accounts",
        columns: &["provider_id", "account_id"],
    },
    Known {
        key: UniqueKey::PasskeysCredential,
        index: "passkeys_credential_id_key",
        table: "passkeys",
        columns: &["credential_id"],
    },
];

impl UniqueKey {
    /// From an index or constraint name, as PostgreSQL reports it.
    pub fn from_index(name: &str) -> Self {
        KNOWN
            .iter()
            .find(|k| k.index == name)
            .map(|k| k.key.clone())
            .unwrap_or_else(|| UniqueKey::Unknown(name.to_string()))
    }

    /// From a table and the columns of the index, as SQLite reports it.
    pub fn from_columns(table: &str, columns: &[&str]) -> Self {
        KNOWN
            .iter()
            .find(|k| k.table == table && k.columns == columns)
            .map(|k| k.key.clone())
            .unwrap_or_else(|| UniqueKey::Unknown(format!("{table}({})", columns.join(", "))))
    }

    /// The index name (PostgreSQL's), or what the driver said for an
    /// unknown one.
    pub fn name(&self) -> &str {
        match self {
            UniqueKey::Unknown(name) => name,
            known => KNOWN
                .iter()
                .find(|k| &k.key == known)
                .map_or("unknown", |k| k.index),
        }
    }
}

impl fmt::Display for UniqueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests;
