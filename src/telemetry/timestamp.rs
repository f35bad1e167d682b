//! A log line's time: RFC 3339 in UTC with microseconds
//! (`2026-12-07T21:41:36.562060Z`), as tracing-subscriber wrote it. The
//! date and the second are worked out once a second per thread; a line
//! adds only its microseconds.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;

thread_local! {
    /// The second last written on this thread, and its text up to the `.`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends the time now.
pub(super) fn push_now(out: &mut String) {
    push(out, SystemTime::now());
}

fn push(out: &mut String, at: SystemTime) {
    // A clock before 1970 is written as 1970.
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            second.1.clear();
            push_second(&mut second.1, secs);
            second.0 = secs;
        }
        out.push_str(&second.1);
    });
    let _ = write!(out, "{:06}Z", since.subsec_micros());
}

fn push_second(out: &mut String, secs: u64) {
    let at = i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::format_description::well_known::Rfc3339;

    fn text(at: SystemTime) -> String {
        let mut out = String::new();
        push(&mut out, at);
        out
    }

    #[test]
    fn writes_what_rfc3339_parses_back_to_the_microsecond() {
        let instants = [
            0,                       // the epoch
            951_782_399_999_999,     // 2000-02-28T23:59:59.999999: the day before a leap day
            951_868_800_000_001,     // 2000-03-01, just after it
            1_798_761_599_123_456,   // the last second of 2026
            1_798_761_600_000_000,   // the first of 2027
            1_796_687_296_562_060,   // an ordinary instant, seen in a log
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        ];
        for micros in instants {
            // The same thread writes each second after another: the cached
            // text must follow.
            let at = UNIX_EPOCH + Duration::from_micros(micros);
            let written = text(at);
            let parsed = OffsetDateTime::parse(&written, &Rfc3339).unwrap();
            let expected = OffsetDateTime::from(at);
            assert_eq!(parsed, expected, "{written}");
            assert_eq!(written.len(), 27, "{written}");
        }
        assert_eq!(
            text(UNIX_EPOCH + Duration::from_micros(1_796_687_296_562_060)),
            "2026-12-07T23:48:16.562060Z"
        );
    }

    #[test]
    fn the_same_second_twice_differs_only_in_its_microseconds() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_687_296);
        assert_eq!(text(at), "2026-12-07T23:48:16.000000Z");
        assert_eq!(
            text(at + Duration::from_micros(7)),
            "2026-12-07T23:48:16.000007Z"
        );
        assert_eq!(
            text(at - Duration::from_micros(1)),
            "2026-12-07T23:48:15.999999Z"
        );
    }
}
