//! Issuing and validating access tokens.

use super::keys::{KeyRing, KeyRingError};
use super::verified::VerifiedTokens;
use crate::clock::SharedClock;
use crate::domain::Role;
use crate::store::{Session, Timestamp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// RFC 9068 media type: keeps other JWTs from passing as access tokens.
const TOKEN_TYPE: &str = "at+jwt";
/// Appended to the audience of enrolment-only tokens.
const ENROLMENT_SUFFIX: &str = ":mfa-enrolment";
/// Anything longer is not one of ours; refuse it before parsing.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The session id: a token dies with its session.
    pub sid: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// Authenticator assurance level (NIST SP 800-63B): `aal1` for one
    /// factor, `aal2` for two. Absent from tokens issued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aal: Option<String>,
    /// The same value as `aal`, under the name RFC 9470's `acr_values`
    /// refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// How the person proved who they are (RFC 8176 values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When they did (Unix seconds); a refresh keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: u64,
    /// Issued for the enrolment-only audience (see [`Reach`]).
    pub enrolment_only: bool,
}

/// What an access token may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Everything the user's role allows: `aud` is the configured audience.
    Full,
    /// Only the enrolment of a second factor (a user whose role must use
    /// one and whose session has none): `aud` is the audience with
    /// `:mfa-enrolment` appended, so that no other service that checks
    /// `aud` accepts the token.
    EnrolmentOnly,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, badly signed, wrong issuer/audience/type, unknown key.
    #[error("invalid access token: {0}")]
    Invalid(&'static str),
    #[error("access token expired")]
    Expired,
    #[error(transparent)]
    Keys(#[from] KeyRingError),
    #[error("access token could not be signed")]
    Signing(#[source] serde_json::Error),
}

pub struct AccessTokens {
    keys: Arc<KeyRing>,
    clock: SharedClock,
    leeway_secs: i64,
    issuer: String,
    audience: String,
    enrolment_audience: String,
    ttl: Duration,
    validation: Validation,
    verified: Arc<VerifiedTokens>,
}

impl AccessTokens {
    pub fn new(
        keys: Arc<KeyRing>,
        clock: SharedClock,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        leeway: u64,
    ) -> Self {
        // The algorithm is fixed here, never taken from the token.
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Lifetimes are checked against the application's clock below, not
        // the library's wall clock (there is no `nbf`; `iat` is ours).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        let enrolment_audience = format!("{audience}{ENROLMENT_SUFFIX}");
        validation.set_audience(&[audience, enrolment_audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        Self {
            keys,
            clock,
            leeway_secs: i64::try_from(leeway).unwrap_or(60),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            enrolment_audience,
            ttl,
            validation,
            verified: Arc::new(VerifiedTokens::new()),
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn issue(
        &self,
        role: Role,
        session: &Session,
        reach: Reach,
        now: Timestamp,
    ) -> Result<IssuedAccessToken, TokenError> {
        let iat = now.unix_seconds();
        let assurance = session.assurance();
        let aud = match reach {
            Reach::Full => self.audience.clone(),
            Reach::EnrolmentOnly => self.enrolment_audience.clone(),
        };
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud,
            sub: session.user_id,
            sid: session.id,
            role,
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            jti: Uuid::new_v4(),
            aal: Some(assurance.aal().to_string()),
            acr: Some(assurance.aal().to_string()),
            amr: assurance.amr().iter().map(|m| m.to_string()).collect(),
            auth_time: Some(session.auth_time.unix_seconds()),
        };
        let token = self.keys.with_signing_key(now, |kid, key| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.to_string());
            header.typ = Some(TOKEN_TYPE.to_string());
            compact_jws(&header, &claims, key)
        })?;
        Ok(IssuedAccessToken {
            token: token.map_err(TokenError::Signing)?,
            expires_in: self.ttl.as_secs(),
            enrolment_only: reach == Reach::EnrolmentOnly,
        })
    }

    /// What a verified token may reach, from its audience.
    pub fn reach(&self, claims: &AccessClaims) -> Reach {
        if claims.aud == self.audience {
            Reach::Full
        } else {
            Reach::EnrolmentOnly
        }
    }

    /// Checks signature, algorithm, type, issuer, audience and lifetime. Whether
    /// the session is still alive is the caller's business.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid("too long"));
        }
        let now = self.clock.now().unix_seconds();
        // A token seen before skips the signature check while its key is
        // still in the ring; its lifetime is checked as for any other.
        if let Some((claims, kid)) = self.verified.get(token) {
            if self.keys.verifies_with(&kid) {
                return self
                    .unexpired(claims, now)
                    .inspect_err(|_| self.verified.remove(token));
            }
            self.verified.remove(token);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Invalid("malformed header"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid("algorithm not allowed"));
        }
        if header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenError::Invalid("not an access token"));
        }
        let kid = header.kid.ok_or(TokenError::Invalid("no key id"))?;
        let key = self
            .keys
            .decoding_key(&kid)
            .await
            .ok_or(TokenError::Invalid("unknown key id"))?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid("rejected"))?;
        let claims = self.unexpired(claims, now)?;
        self.verified
            .insert(token, &claims, &kid, now - self.leeway_secs);
        Ok(claims)
    }

    fn unexpired(&self, claims: AccessClaims, now: i64) -> Result<AccessClaims, TokenError> {
        if claims.exp + self.leeway_secs <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The compact JWS `base64url(header).base64url(claims).base64url(signature)`,
/// what `jsonwebtoken::encode` writes, signed with the key as kept parsed
/// (see `SigningEntry`). Verification stays with jsonwebtoken.
fn compact_jws(
    header: &Header,
    claims: &AccessClaims,
    key: &SigningKey,
) -> Result<String, serde_json::Error> {
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey;

    /// Ed25519 signatures are deterministic, so the token written here must
    /// be byte for byte the one `jsonwebtoken::encode` writes for the same
    /// header, claims and key.
    #[test]
    fn compact_jws_is_what_jsonwebtoken_writes() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("kid-1".into());
        header.typ = Some(TOKEN_TYPE.into());
        let claims = AccessClaims {
            iss: "https://auth.example.com".into(),
            aud: "portcullis".into(),
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            role: Role::Viewer,
            iat: 1_800_000_000,
            exp: 1_800_000_900,
            jti: Uuid::new_v4(),
            aal: Some("aal2".into()),
            acr: Some("aal2".into()),
            amr: vec!["pwd".into(), "otp".into()],
            auth_time: Some(1_799_999_000),
        };
        let der = key.to_pkcs8_der().expect("pkcs8");
        let expected = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .expect("jsonwebtoken signs");
        assert_eq!(
            compact_jws(&header, &claims, &key).expect("signs"),
            expected
        );
    }
}
