//! Keyset pagination for the admin listings: an opaque cursor naming the
//! listing's order, the last row's sort key and id; and one extra row
//! fetched to learn whether there is a next page.

use crate::error::FlowError;
use crate::store::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

/// The `limit` parameter: 1 to 200, 50 when absent.
pub fn page_size(limit: Option<i64>) -> Result<i64, FlowError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(FlowError::bad_request("limit", "must be 1 to 200")),
    }
}

/// base64url JSON; short field names keep URLs short.
#[derive(Serialize, Deserialize)]
struct CursorData {
    #[serde(rename = "s")]
    order: String,
    #[serde(rename = "k")]
    key: String,
    id: Uuid,
}

pub fn encode(order: &str, key: String, id: Uuid) -> String {
    let data = CursorData {
        order: order.to_string(),
        key,
        id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default())
}

/// The sort key and id of a cursor made by [`encode`] for the same order.
pub fn decode(order: &str, cursor: &str) -> Result<(String, Uuid), FlowError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if data.order != order {
        return Err(invalid());
    }
    Ok((data.key, data.id))
}

/// A timestamp as a cursor key.
pub fn time_key(at: Timestamp) -> String {
    at.unix_millis().to_string()
}

pub fn parse_time_key(key: &str) -> Result<Timestamp, FlowError> {
    key.parse()
        .ok()
        .and_then(Timestamp::from_unix_millis)
        .ok_or_else(invalid)
}

/// Cuts rows fetched with `limit + 1` down to the page, and makes the
/// cursor of the next page when the extra row came back.
pub fn split<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor_of);
    (rows, next)
}

fn invalid() -> FlowError {
    FlowError::bad_request("cursor", "is not a cursor of this listing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_belong_to_their_order() {
        let id = Uuid::now_v7();
        let cursor = encode("email", "a@b.co".into(), id);
        assert_eq!(decode("email", &cursor).ok(), Some(("a@b.co".into(), id)));
        assert!(decode("-created_at", &cursor).is_err());
        assert!(decode("email", "garbage!").is_err());
        assert!(parse_time_key("yesterday").is_err());
    }

    #[test]
    fn the_extra_row_makes_the_next_cursor() {
        let (page, next) = split(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((page, next), (vec![1, 2], Some("2".to_string())));
        let (page, next) = split(vec![1, 2], 2, |n| n.to_string());
        assert_eq!((page, next), (vec![1, 2], None));
    }
}
