use serde::{Serialize, Serializer};
use std::time::Duration;
use time::OffsetDateTime;

/// A UTC instant with millisecond precision.
///
/// PostgreSQL stores it as `timestamptz`, SQLite as integer milliseconds since
/// the epoch (so that comparisons in SQL are numeric, not textual). Both
/// encodings live in the backend modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Truncates to whole milliseconds so both backends round-trip exactly.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        let millis = at.millisecond();
        Self(at.replace_millisecond(millis).unwrap_or(at))
    }

    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        let nanos = i128::from(millis) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .map(Self)
    }

    pub fn unix_millis(self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0 + duration)
    }

    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0 - duration)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::serialize(&self.0, serializer)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "An instant in UTC, RFC 3339 with the `Z` offset; fractional seconds (at \
                 most milliseconds) only when they are not zero.",
            ))
            .examples(["2026-12-04T10:00:00Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_round_trip() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::from_unix_millis(now.unix_millis()), Some(now));
    }

    #[test]
    fn arithmetic() {
        let t = Timestamp::from_unix_millis(1_000).unwrap();
        assert_eq!(t.plus(Duration::from_millis(1500)).unix_millis(), 2_500);
        assert_eq!(t.minus(Duration::from_secs(1)).unix_millis(), 0);
    }
}
