//! Reads both migration trees, collects every unique index and primary key
//! that survives them, and checks that each one maps to a [`UniqueKey`] on
//! both backends, or is listed in [`NEVER_VIOLATED`] with the reason. A new
//! unique index without either fails here, not in production as a 500.

use super::{UniqueKey, KNOWN};
use std::collections::BTreeMap;
use std::path::Path;

/// Keys no statement of the store can violate, and why.
const NEVER_VIOLATED: &[(&str, &str)] = &[
    ("users_pkey", FRESH_ID),
    ("accounts_pkey", FRESH_ID),
    ("pending_registrations_pkey", FRESH_ID),
    ("email_verification_codes_pkey", FRESH_ID),
    ("sessions_pkey", FRESH_ID),
    ("service_clients_pkey", FRESH_ID),
    ("audit_events_pkey", FRESH_ID),
    ("mail_outbox_pkey", FRESH_ID),
    ("refresh_tokens_pkey", RANDOM),
    ("oauth_states_pkey", RANDOM),
    ("oauth_handoffs_pkey", RANDOM),
    ("pending_links_pkey", RANDOM),
    ("email_verification_codes_token_hash_key", RANDOM),
    ("service_clients_client_id_key", RANDOM),
    (
        "signing_keys_pkey",
        "the kid is the thumbprint of a freshly generated key",
    ),
    ("pending_registrations_email_key", UPSERT),
    ("email_verification_codes_email_action_key", UPSERT),
    ("email_verification_codes_change_email_key", UPSERT),
    ("mail_cooldowns_pkey", UPSERT),
    ("rate_limits_pkey", UPSERT),
    ("login_throttle_pkey", UPSERT),
    ("locks_pkey", "only the migrations insert locks"),
    ("liveness_pkey", "only the migration inserts its one row"),
    ("mfa_factors_pkey", FRESH_ID),
    ("webhook_endpoints_pkey", FRESH_ID),
    (
        "webhook_deliveries_pkey",
        "one insert per (fresh event id, endpoint): the event's own transaction",
    ),
    ("mfa_challenges_pkey", RANDOM),
    ("passkeys_pkey", FRESH_ID),
    ("webauthn_ceremonies_pkey", FRESH_ID),
    (
        "passkey_user_handles_pkey",
        "inserted under the user's row lock, after reading that there is none",
    ),
    (
        "passkey_user_handles_handle_key",
        "a fresh random UUIDv4 (122 bits)",
    ),
    (
        "recovery_codes_pkey",
        "the user's codes are deleted first; ten new codes of 80 random bits each",
    ),
];
const FRESH_ID: &str = "every insert uses a fresh UUIDv7";
const RANDOM: &str = "the value is (the hash of) at least 96 random bits";
const UPSERT: &str = "the only statement writing it names it in ON CONFLICT";

/// A unique index or primary key as the migrations leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    table: String,
    columns: Vec<String>,
}

#[test]
fn every_unique_key_of_both_migration_trees_is_mapped_or_impossible() {
    let sqlite = keys_of("migrations/sqlite");
    let postgres = keys_of("migrations/postgres");
    assert_eq!(sqlite, postgres, "the two trees must name the same keys");
    assert!(sqlite.len() > 20, "the parser found too little: {sqlite:?}");

    for (name, key) in &postgres {
        if NEVER_VIOLATED.iter().any(|(n, _)| n == name) {
            continue;
        }
        let by_name = UniqueKey::from_index(name);
        assert!(
            !matches!(by_name, UniqueKey::Unknown(_)),
            "unique key {name} is neither a UniqueKey variant nor in NEVER_VIOLATED"
        );
        let columns: Vec<&str> = key.columns.iter().map(String::as_str).collect();
        assert_eq!(
            UniqueKey::from_columns(&key.table, &columns),
            by_name,
            "SQLite names {name} by its table and columns; they must map to the same key"
        );
    }
    for (name, _) in NEVER_VIOLATED {
        assert!(postgres.contains_key(*name), "stale NEVER_VIOLATED: {name}");
        assert!(
            matches!(UniqueKey::from_index(name), UniqueKey::Unknown(_)),
            "{name} is mapped, so it cannot also be never violated"
        );
    }
    for known in KNOWN {
        assert!(
            postgres.contains_key(known.index),
            "stale mapping: {}",
            known.index
        );
        assert_eq!(known.key.name(), known.index);
    }
}

#[test]
fn sqlite_and_postgres_names_resolve_alike() {
    assert_eq!(
        UniqueKey::from_index("users_email_key"),
        UniqueKey::UsersEmail
    );
    assert_eq!(
        UniqueKey::from_columns("accounts", &["provider_id", "account_id"]),
        UniqueKey::AccountsIdentity
    );
    assert_eq!(
        UniqueKey::from_columns("sessions", &["id"]),
        UniqueKey::Unknown("sessions(id)".into())
    );
    assert_eq!(UniqueKey::UsersUsername.to_string(), "users_username_key");
}

/// Every key the migrations in `dir` leave, by PostgreSQL's name for it
/// (`<table>_pkey` for a primary key).
fn keys_of(dir: &str) -> BTreeMap<String, Key> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut keys = BTreeMap::new();
    for file in files {
        let sql = std::fs::read_to_string(&file).unwrap();
        for statement in statements(&sql) {
            apply(&mut keys, &statement);
        }
    }
    keys
}

/// The statements of a file, comments removed, whitespace collapsed.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    code.split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

fn apply(keys: &mut BTreeMap<String, Key>, statement: &str) {
    let upper = statement.to_uppercase();
    let words: Vec<&str> = statement.split(' ').collect();
    if upper.starts_with("CREATE TABLE ") {
        create_table(keys, words[2], statement);
    } else if upper.starts_with("CREATE UNIQUE INDEX ") {
        // CREATE UNIQUE INDEX name ON table (columns) [WHERE …]
        assert!(
            words[4].eq_ignore_ascii_case("ON"),
            "unexpected: {statement}"
        );
        let key = Key {
            table: words[5].to_string(),
            columns: columns_in(statement),
        };
        keys.insert(words[3].to_string(), key);
    } else if upper.starts_with("DROP INDEX ") {
        keys.remove(words[2]);
    } else if upper.starts_with("DROP TABLE ") {
        keys.retain(|_, key| key.table != words[2]);
    } else {
        // Anything else that could add a key must be taught to the parser.
        assert!(
            !upper.contains("UNIQUE") && !upper.contains("PRIMARY KEY"),
            "the test cannot read this statement: {statement}"
        );
    }
}

fn create_table(keys: &mut BTreeMap<String, Key>, table: &str, statement: &str) {
    let open = statement.find('(').unwrap();
    let close = statement.rfind(')').unwrap();
    for element in split_top_level(&statement[open + 1..close]) {
        let upper = element.to_uppercase();
        let (name, columns) = if upper.starts_with("PRIMARY KEY") {
            (format!("{table}_pkey"), columns_in(&element))
        } else if upper.starts_with("UNIQUE") {
            let columns = columns_in(&element);
            (format!("{table}_{}_key", columns.join("_")), columns)
        } else if upper.starts_with("CONSTRAINT") {
            panic!("named constraints are not read yet: {element}");
        } else {
            let column = element.split(' ').next().unwrap().to_string();
            if upper.contains("PRIMARY KEY") {
                (format!("{table}_pkey"), vec![column])
            } else if upper.contains("UNIQUE") {
                (format!("{table}_{column}_key"), vec![column])
            } else {
                continue;
            }
        };
        let key = Key {
            table: table.to_string(),
            columns,
        };
        keys.insert(name, key);
    }
}

/// The comma-separated parts of a table body, not splitting inside parentheses.
fn split_top_level(body: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in body.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current.trim().to_string());
    parts
}

/// The column list in the first parentheses of `sql`.
fn columns_in(sql: &str) -> Vec<String> {
    let open = sql.find('(').unwrap();
    let close = open + sql[open..].find(')').unwrap();
    sql[open + 1..close]
        .split(',')
        .map(|c| c.trim().to_string())
        .collect()
}
