use super::SqlRepo;
use crate::domain::SecondFactor;
use crate::store::{Factor, FactorRepo, MfaChallenge, Session, StoreResult, Timestamp};
use uuid::Uuid;

impl_for_backends! { impl FactorRepo for SqlRepo<DB> {
    async fn insert_factor(&mut self, factor: &Factor) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO mfa_factors (id, user_id, kind, secret_enc, last_used_step, created_at, \
             verified_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(factor.id)
        .bind(factor.user_id)
        .bind(factor.kind.as_str())
        .bind(factor.secret_enc.as_str())
        .bind(factor.last_used_step)
        .bind(factor.created_at)
        .bind(factor.verified_at)
        .bind(factor.last_used_at);
        self.execute("insert_factor", query).await?;
        Ok(())
    }

    async fn factors_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Factor>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(Factor),
            " FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id);
        self.fetch_all("factors_of_user", query).await
    }

    async fn delete_unverified_factors(&mut self, user_id: Uuid) -> StoreResult<u64> {
        let query = sqlx::query(
            "DELETE FROM mfa_factors WHERE user_id = $1 AND verified_at IS NULL",
        )
        .bind(user_id);
        self.execute("delete_unverified_factors", query).await
    }

    async fn accept_totp_step(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        step: i64,
        activate: bool,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // `activate` picks the unverified factor, else an active one: a code
        // never activates a factor that is already active, nor signs in with
        // one that is not.
        let query = sqlx::query(
            "UPDATE mfa_factors SET last_used_step = $3, last_used_at = $5, \
             verified_at = COALESCE(verified_at, $5) \
             WHERE id = $1 AND user_id = $2 \
             AND (last_used_step IS NULL OR last_used_step < $3) \
             AND ((verified_at IS NULL) = $4)",
        )
        .bind(id)
        .bind(user_id)
        .bind(step)
        .bind(activate)
        .bind(now);
        Ok(self.execute("accept_totp_step", query).await? == 1)
    }

    async fn delete_factor(&mut self, id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM mfa_factors WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id);
        Ok(self.execute("delete_factor", query).await? > 0)
    }

    async fn delete_factors_of_user(&mut self, user_id: Uuid) -> StoreResult<u64> {
        let codes = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id);
        self.execute("delete_factors_of_user", codes).await?;
        let factors = sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1").bind(user_id);
        self.execute("delete_factors_of_user", factors).await
    }

    async fn replace_recovery_codes(
        &mut self,
        user_id: Uuid,
        code_hashes: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        let old = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id);
        self.execute("replace_recovery_codes", old).await?;
        for hash in code_hashes {
            let query = sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(hash.as_str())
            .bind(now);
            self.execute("replace_recovery_codes", query).await?;
        }
        Ok(())
    }

    async fn use_recovery_code(
        &mut self,
        user_id: Uuid,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code_hash)
        .bind(now);
        Ok(self.execute("use_recovery_code", query).await? == 1)
    }

    async fn remaining_recovery_codes(&mut self, user_id: Uuid) -> StoreResult<i64> {
        let query = sqlx::query_as(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id);
        let (count,): (i64,) = self.fetch_one("remaining_recovery_codes", query).await?;
        Ok(count)
    }

    async fn insert_mfa_challenge(&mut self, challenge: &MfaChallenge) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, auth_method, details, attempts, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(challenge.token_hash.as_str())
        .bind(challenge.user_id)
        .bind(challenge.auth_method.as_str())
        .bind(challenge.details.as_str())
        .bind(challenge.attempts)
        .bind(challenge.created_at)
        .bind(challenge.expires_at);
        self.execute("insert_mfa_challenge", query).await?;
        Ok(())
    }

    async fn mfa_challenge(
        &mut self,
        token_hash: &str,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<MfaChallenge>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(MfaChallenge),
            " FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2 AND attempts < $3"
        ))
        .bind(token_hash)
        .bind(now)
        .bind(i64::from(max_attempts));
        self.fetch_optional("mfa_challenge", query).await
    }

    async fn take_mfa_challenge(&mut self, token_hash: &str) -> StoreResult<bool> {
        let query =
            sqlx::query("DELETE FROM mfa_challenges WHERE token_hash = $1").bind(token_hash);
        Ok(self.execute("take_mfa_challenge", query).await? == 1)
    }

    async fn delete_mfa_challenges_of_user(&mut self, user_id: Uuid) -> StoreResult<u64> {
        let query = sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1").bind(user_id);
        self.execute("delete_mfa_challenges_of_user", query).await
    }

    async fn count_mfa_failure(&mut self, token_hash: &str) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1",
        )
        .bind(token_hash);
        self.execute("count_mfa_failure", query).await?;
        Ok(())
    }

    async fn raise_session(
        &mut self,
        id: Uuid,
        second_factor: SecondFactor,
        now: Timestamp,
    ) -> StoreResult<Option<Session>> {
        let query = sqlx::query_as(concat!(
            "UPDATE sessions SET second_factor = $2, auth_time = $3, last_used_at = $3 \
             WHERE id = $1 AND revoked_at IS NULL AND expires_at > $3 RETURNING ",
            columns!(Session)
        ))
        .bind(id)
        .bind(second_factor.as_str())
        .bind(now);
        self.fetch_optional("raise_session", query).await
    }

    async fn retire_refresh_tokens(
        &mut self,
        session_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let query = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2 \
             WHERE session_id = $1 AND rotated_at IS NULL",
        )
        .bind(session_id)
        .bind(now);
        self.execute("retire_refresh_tokens", query).await
    }
}}
