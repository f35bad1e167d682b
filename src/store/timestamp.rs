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
    /// An instant beyond what `time` holds in UTC (9999-12-31T23:59:59-01:00,
    /// which a client may send) is held at that range's end, never a panic.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at
            .checked_to_offset(time::UtcOffset::UTC)
            .unwrap_or_else(|| {
                if at.offset().is_negative() {
                    time::PrimitiveDateTime::MAX.assume_utc()
                } else {
                    time::PrimitiveDateTime::MIN.assume_utc()
                }
            });
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
        let text = Rfc3339::of(self.0);
        match text.as_ref().map(|t| std::str::from_utf8(t.as_bytes())) {
            Some(Ok(text)) => serializer.serialize_str(text),
            // A year outside 0000-9999 (never stored): `time`'s own answer.
            _ => time::serde::rfc3339::serialize(&self.0, serializer),
        }
    }
}

/// The RFC 3339 text `time` writes for an instant (`Z`, fractional seconds
/// without trailing zeros, none when zero), written into a fixed buffer:
/// with `time`'s general formatter, which allocates for each, a response's
/// timestamps cost 2 % of a session check's CPU (perf).
struct Rfc3339 {
    bytes: [u8; 30],
    len: usize,
}

impl Rfc3339 {
    fn of(at: OffsetDateTime) -> Option<Self> {
        // Always UTC already; `checked_` so that nothing here can panic.
        let at = at.checked_to_offset(time::UtcOffset::UTC)?;
        let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
        let mut text = Self {
            bytes: [0; 30],
            len: 0,
        };
        text.digits(year, 4);
        text.push(b'-');
        text.digits(u8::from(at.month()).into(), 2);
        text.push(b'-');
        text.digits(at.day().into(), 2);
        text.push(b'T');
        text.digits(at.hour().into(), 2);
        text.push(b':');
        text.digits(at.minute().into(), 2);
        text.push(b':');
        text.digits(at.second().into(), 2);
        let mut fraction = at.nanosecond();
        if fraction != 0 {
            let mut width = 9;
            while fraction % 10 == 0 {
                fraction /= 10;
                width -= 1;
            }
            text.push(b'.');
            text.digits(fraction, width);
        }
        text.push(b'Z');
        Some(text)
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `value`'s last `width` decimal digits, zero-padded.
    fn digits(&mut self, mut value: u32, width: usize) {
        for at in (self.len..self.len + width).rev() {
            self.bytes[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
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
    fn an_instant_past_the_range_in_utc_is_held_at_its_end() {
        use time::format_description::well_known::Rfc3339;
        let late = OffsetDateTime::parse("9999-12-31T23:59:59-01:00", &Rfc3339).unwrap();
        let plus_one = time::UtcOffset::from_hms(1, 0, 0).unwrap();
        let early = time::PrimitiveDateTime::MIN.assume_offset(plus_one);
        let held = Timestamp::from_datetime(late);
        assert_eq!(held.datetime().year(), 9999);
        assert_eq!(
            serde_json::to_string(&held).unwrap(),
            "\"9999-12-31T23:59:59.999Z\""
        );
        let held = Timestamp::from_datetime(early).datetime();
        assert_eq!(held, time::PrimitiveDateTime::MIN.assume_utc());
    }

    #[test]
    fn serialises_as_time_writes_rfc3339() {
        use time::format_description::well_known::Rfc3339 as Format;
        // Instants spread over years 0000-9999 with every kind of fraction:
        // none, milliseconds, microseconds, nanoseconds.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let first = OffsetDateTime::new_utc(
            time::Date::from_calendar_date(0, time::Month::January, 1).unwrap(),
            time::Time::MIDNIGHT,
        );
        let span = 10_000 * 365 * 86_400_i128 * 1_000_000_000;
        for n in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut offset = i128::from(seed) % span;
            offset -= offset % [1_000_000_000, 1_000_000, 1_000, 1][n % 4];
            let at = first + time::Duration::nanoseconds_i128(offset);
            let ours = serde_json::to_string(&Timestamp(at)).unwrap();
            let theirs = format!("\"{}\"", at.format(&Format).unwrap());
            assert_eq!(ours, theirs);
        }
        let now = Timestamp::from_unix_millis(1_796_687_296_560).unwrap();
        assert_eq!(
            serde_json::to_string(&now).unwrap(),
            "\"2026-12-07T23:48:16.56Z\""
        );
    }

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
