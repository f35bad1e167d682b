//! Records from rusqlite rows, for the two places that talk to SQLite
//! without sqlx (`sqlite_reader`, `sqlite_writer`). Values are stored as
//! sqlx stores them: a UUID as its 16 bytes, a timestamp as integer Unix
//! milliseconds, an enum as its name. A value that does not decode is an
//! error, never a default.

use crate::domain::{AuthMethod, Email, Role, SecondFactor};
use crate::store::{Session, Timestamp, User};
use rusqlite::Row;
use uuid::Uuid;

/// A row of `session_of_user_columns!()`.
pub(super) fn session_of_user(row: &Row<'_>) -> rusqlite::Result<(Session, User)> {
    let user = User {
        id: uuid(row, 0)?,
        email: parsed(row, 1, Email::try_from)?,
        email_verified_at: optional_timestamp(row, 2)?,
        username: row.get(3)?,
        display_name: row.get(4)?,
        first_name: row.get(5)?,
        last_name: row.get(6)?,
        phone: row.get(7)?,
        city: row.get(8)?,
        info: row.get(9)?,
        avatar_url: row.get(10)?,
        role: parsed(row, 11, Role::try_from)?,
        auth_provider: row.get(12)?,
        password_hash: row.get(13)?,
        created_at: timestamp(row, 14)?,
        updated_at: timestamp(row, 15)?,
        banned_at: optional_timestamp(row, 16)?,
        banned_until: optional_timestamp(row, 17)?,
        ban_reason: row.get(18)?,
        locale: row.get(19)?,
    };
    let session = session_at(row, 20, user.id)?;
    Ok((session, user))
}

/// The columns `session_at` reads, in its order.
pub(super) const SESSION_COLUMNS: &str = "id, ip, user_agent, created_at, last_used_at, \
     expires_at, revoked_at, auth_time, auth_method, second_factor";

/// A session of `user_id` from the ten columns of `SESSION_COLUMNS`,
/// starting at column `at`.
pub(super) fn session_at(row: &Row<'_>, at: usize, user_id: Uuid) -> rusqlite::Result<Session> {
    let second_factor: Option<String> = row.get(at + 9)?;
    Ok(Session {
        id: uuid(row, at)?,
        user_id,
        ip: row.get(at + 1)?,
        user_agent: row.get(at + 2)?,
        created_at: timestamp(row, at + 3)?,
        last_used_at: timestamp(row, at + 4)?,
        expires_at: timestamp(row, at + 5)?,
        revoked_at: optional_timestamp(row, at + 6)?,
        auth_time: timestamp(row, at + 7)?,
        auth_method: parsed(row, at + 8, AuthMethod::try_from)?,
        second_factor: second_factor
            .map(SecondFactor::try_from)
            .transpose()
            .map_err(|_| invalid(at + 9))?,
    })
}

fn invalid(column: usize) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(column, "undecodable".into(), rusqlite::types::Type::Text)
}

pub(super) fn uuid(row: &Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    let bytes: Vec<u8> = row.get(column)?;
    Uuid::from_slice(&bytes).map_err(|_| invalid(column))
}

fn timestamp(row: &Row<'_>, column: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_unix_millis(row.get(column)?).ok_or_else(|| invalid(column))
}

fn optional_timestamp(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<Timestamp>> {
    let millis: Option<i64> = row.get(column)?;
    millis
        .map(|m| Timestamp::from_unix_millis(m).ok_or_else(|| invalid(column)))
        .transpose()
}

fn parsed<T, E>(
    row: &Row<'_>,
    column: usize,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> rusqlite::Result<T> {
    parse(row.get(column)?).map_err(|_| invalid(column))
}
