//! TOTP (RFC 6238) over HOTP (RFC 4226) with HMAC-SHA-1, 6 digits, 30-second
//! steps: what every authenticator app reads from an `otpauth://` URI.
//!
//! Written here on `hmac` and `sha1` (both already in the tree) rather than
//! taken from a TOTP crate because replay protection needs the *step* a code
//! matched, which the crates' `check` functions do not return.

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const DIGITS: u32 = 6;
pub const PERIOD_SECS: i64 = 30;
/// Steps accepted either side of the current one (clock skew).
pub const SKEW_STEPS: i64 = 1;

/// The HOTP value of `counter` (RFC 4226 §5.3), `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length; the error cannot happen.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The time step of a Unix time.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(PERIOD_SECS)
}

/// The code of a time step, zero-padded.
pub fn code_at_step(secret: &[u8], step: i64, digits: u32) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(secret, counter, digits),
        width = digits as usize
    )
}

/// The steps around `unix_secs` (±[`SKEW_STEPS`]) whose code is `code`,
/// latest first. The caller accepts the first one that was not used yet.
pub fn matching_steps(secret: &[u8], code: &str, unix_secs: i64) -> Vec<i64> {
    let now = step_at(unix_secs);
    (now - SKEW_STEPS..=now + SKEW_STEPS)
        .rev()
        .filter(|step| *step >= 0)
        .filter(|step| {
            constant_time_eq(
                code_at_step(secret, *step, DIGITS).as_bytes(),
                code.as_bytes(),
            )
        })
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_4226_appendix_d_hotp_values() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_SECRET, counter as u64, 6),
                *value,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_values() {
        let vectors = [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ];
        for (time, code) in vectors {
            assert_eq!(code_at_step(RFC_SECRET, step_at(time), 8), code, "T={time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let now = 1_700_000_000;
        let step = step_at(now);
        let code = code_at_step(RFC_SECRET, step, DIGITS);
        assert!(matching_steps(RFC_SECRET, &code, now).contains(&step));
        assert!(matching_steps(RFC_SECRET, &code, now + PERIOD_SECS).contains(&step));
        assert!(matching_steps(RFC_SECRET, &code, now - PERIOD_SECS).contains(&step));
        assert!(!matching_steps(RFC_SECRET, &code, now + 2 * PERIOD_SECS).contains(&step));
        assert!(matching_steps(RFC_SECRET, "abcdef", now).is_empty());
    }
}
