//! The group statement's plan, as the group's connections make it: made
//! while the tables hold a few rows and their statistics say so (a new
//! deployment after its first ANALYZE), the generic plan they keep for
//! their lifetime must still go by key, or it reads the whole table for
//! every group once the table has grown.

// The suites' throwaway databases, shared rather than copied.
#[allow(dead_code)]
#[path = "../../../../tests/api/helpers/db.rs"]
mod db;

use super::{PgRotations, ROTATE_AND_ISSUE_MANY};
use crate::config::Settings;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, Row};
use std::str::FromStr;
use std::sync::Mutex;

/// A user with one session and its tokens, one of them current, and
/// statistics that say the tables are that small: where PostgreSQL's
/// costs favour reading the whole table.
const A_FEW_ROWS: &str = "\
    INSERT INTO users (id, email, created_at, updated_at) \
      VALUES ('00000000-0000-0000-0000-000000000001', 'a@example.test', now(), now()); \
    INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, auth_time) \
      VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', \
      now(), now(), now() + interval '1 day', now()); \
    INSERT INTO refresh_tokens (token_hash, session_id, issued_at, rotated_at) \
      SELECT 'token-' || n, '00000000-0000-0000-0000-000000000002', now(), \
      CASE WHEN n < 3 THEN now() END FROM generate_series(1, 3) AS n; \
    ANALYZE users; ANALYZE sessions; ANALYZE refresh_tokens";

/// The plan the group's connection keeps, as text.
async fn kept_plan() -> String {
    db::require_postgres().await;
    let test_db = db::TestDb::create(db::Backend::Postgres).await;
    let settings = Settings {
        database_url: test_db.url.clone().into(),
        ..Settings::default()
    };
    crate::store::sql::migrate(&settings).await.unwrap();
    let mut seed = PgConnection::connect(&test_db.url).await.unwrap();
    sqlx::raw_sql(A_FEW_ROWS).execute(&mut seed).await.unwrap();
    seed.close().await.unwrap();
    // A connection as the groups open them, with their settings.
    let rotations = PgRotations {
        options: PgConnectOptions::from_str(&test_db.url).unwrap(),
        idle: Mutex::new(Vec::new()),
    };
    let mut conn = rotations.connection().await.unwrap();
    let prepare = format!(
        "PREPARE rotate_all(text[], text[], timestamptz[], timestamptz[]) AS {ROTATE_AND_ISSUE_MANY}"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
        .execute(&mut conn)
        .await
        .unwrap();
    let rows = sqlx::raw_sql(
        "EXPLAIN (COSTS OFF) EXECUTE rotate_all(ARRAY['a', 'b'], ARRAY['c', 'd'], \
         ARRAY[now(), now()], ARRAY[now(), now()])",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows.iter()
        .map(|row| row.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
#[cfg_attr(postgres_tests_off, ignore = "PORTCULLIS_TEST_POSTGRES=off")]
async fn a_group_plan_made_on_small_tables_goes_by_key() {
    let plan = kept_plan().await;
    // Generic: made once for the connection, with no values to go by.
    assert!(plan.contains("$1"), "not a generic plan:\n{plan}");
    for whole_table in ["Seq Scan", "Hash Join", "Merge Join"] {
        assert!(!plan.contains(whole_table), "{whole_table} in:\n{plan}");
    }
    // A token's row by its key, never by walking its session's tokens.
    assert!(!plan.contains("refresh_tokens_session_id_idx"), "{plan}");
    assert!(plan.contains("refresh_tokens_pkey"), "{plan}");
    assert!(plan.contains("sessions_pkey"), "{plan}");
}
