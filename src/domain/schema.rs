//! The OpenAPI schema of each string domain type: what its `parse` accepts,
//! stated once, so that the document is as strict as the server and every
//! request or view that carries the type refers to the same component.

use super::{
    AvatarUrl, BoundedText, Email, OpaqueToken, Password, RecoveryCode, TotpCode, Username,
    VerificationCode,
};
use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// 0 to 65535 without leading zeros.
const PORT: &str =
    "(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// Characters single-line text never contains (see `is_forbidden_char`).
const FORBIDDEN: &str = r"\u0000-\u001f\u007f-\u009f\u2028\u2029";

struct Rules {
    description: &'static str,
    min: Option<usize>,
    max: usize,
    pattern: Option<String>,
    format: Option<SchemaFormat>,
    example: &'static str,
}

impl Rules {
    fn schema(self) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(self.description))
            .min_length(self.min)
            .max_length(Some(self.max))
            .pattern(self.pattern)
            .format(self.format)
            .examples([self.example])
            .into()
    }
}

macro_rules! string_schema {
    ($type:ty, $name:literal, $rules:expr) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                $rules.schema()
            }
        }

        impl ToSchema for $type {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

string_schema!(
    Email,
    "Email",
    Rules {
        description: "An email address with one `@` and a dotted domain, without spaces or \
            control characters; stored in lower case.",
        min: None,
        max: Email::MAX_LEN,
        pattern: None,
        format: Some(SchemaFormat::KnownFormat(KnownFormat::Email)),
        example: "ada@example.com",
    }
);

string_schema!(
    Password,
    "Password",
    Rules {
        description: "8 to 128 characters. Common and breached passwords, and ones built from \
            the address or username, are refused with 400.",
        min: Some(Password::MIN_CHARS),
        max: Password::MAX_CHARS,
        pattern: None,
        format: Some(SchemaFormat::KnownFormat(KnownFormat::Password)),
        example: "correct horse battery staple",
    }
);

string_schema!(
    Username,
    "Username",
    Rules {
        description: "A public handle: 3 to 32 characters of `a-z 0-9 . _ -`, starting with a \
            letter or digit; stored in lower case.",
        min: Some(3),
        max: 32,
        pattern: Some("^[A-Za-z0-9][A-Za-z0-9._-]*$".to_string()),
        format: None,
        example: "ada",
    }
);

string_schema!(
    VerificationCode,
    "VerificationCode",
    Rules {
        description: "The 8-digit code from a mail.",
        min: Some(VerificationCode::DIGITS),
        max: VerificationCode::DIGITS,
        pattern: Some("^[0-9]{8}$".to_string()),
        format: None,
        example: "48213907",
    }
);

string_schema!(
    TotpCode,
    "TotpCode",
    Rules {
        description: "The 6-digit code an authenticator app shows (TOTP, RFC 6238).",
        min: Some(TotpCode::DIGITS),
        max: TotpCode::DIGITS,
        pattern: Some("^[0-9]{6}$".to_string()),
        format: None,
        example: "492039",
    }
);

string_schema!(
    RecoveryCode,
    "RecoveryCode",
    Rules {
        description: "One of the account's recovery codes: 16 characters `a`-`z` and `2`-`7` \
            in any case, with or without the hyphens and spaces it is shown with.",
        min: Some(RecoveryCode::CHARS),
        max: RecoveryCode::MAX_INPUT,
        pattern: Some("^[ -]*([A-Za-z2-7][ -]*){16}$".to_string()),
        format: None,
        example: "k4m6-x7qp-2ab5-ht3z",
    }
);

string_schema!(
    AvatarUrl,
    "AvatarUrl",
    Rules {
        description: "An http(s) URL with a host name (letters, digits, dots, hyphens) and an \
            optional port, of at most 2048 printable ASCII characters (other characters \
            percent-encoded).",
        min: Some(8),
        max: AvatarUrl::MAX_CHARS,
        // Stated by the pattern alone: the server does not parse the URL, so
        // `format: uri` would promise a check it does not make.
        pattern: Some(format!(
            "^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:{PORT})?([/?#][!-~]*)?$"
        )),
        format: None,
        example: "https://example.com/ada.png",
    }
);

string_schema!(
    OpaqueToken,
    "OpaqueToken",
    Rules {
        description: "A token as this service handed it out (refresh token, link token, \
            one-time code of a social sign-in or link): 1 to 1024 printable ASCII characters.",
        min: Some(1),
        max: OpaqueToken::MAX_LEN,
        pattern: Some("^[!-~]+$".to_string()),
        format: None,
        example: "q3Zk9V0b1mC8xWn2LrT5yHs7Pd4EaJ6u",
    }
);

impl<const MAX: usize> PartialSchema for BoundedText<MAX> {
    fn schema() -> RefOr<Schema> {
        Rules {
            description: "Single-line text: not blank, no control characters (trimmed when \
                stored). Send `null` to clear a field, not an empty string.",
            min: Some(1),
            max: MAX,
            // At least one character that is not a space, none forbidden.
            pattern: Some(format!(r"^[^{FORBIDDEN}]*[^\s{FORBIDDEN}][^{FORBIDDEN}]*$")),
            format: None,
            example: "Ada",
        }
        .schema()
    }
}

impl<const MAX: usize> ToSchema for BoundedText<MAX> {
    fn name() -> Cow<'static, str> {
        match MAX {
            200 => Cow::Borrowed("ProfileText"),
            2000 => Cow::Borrowed("InfoText"),
            _ => Cow::Owned(format!("Text{MAX}")),
        }
    }
}
