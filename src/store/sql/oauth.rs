use super::SqlRepo;
use crate::store::{
    Account, OAuthHandoff, OAuthRepo, OAuthState, PendingLink, StoreResult, Timestamp,
};
use uuid::Uuid;

impl_for_backends! { impl OAuthRepo for SqlRepo<DB> {
    async fn insert_oauth_state(&mut self, state: &OAuthState) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO oauth_states (state_hash, provider, purpose, user_id, nonce, \
             pkce_verifier, redirect_to, client_code_challenge, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(state.state_hash.as_str())
        .bind(state.provider.as_str())
        .bind(state.purpose.as_str())
        .bind(state.user_id)
        .bind(state.nonce.as_str())
        .bind(state.pkce_verifier.as_str())
        .bind(state.redirect_to.as_str())
        .bind(state.client_code_challenge.as_deref())
        .bind(state.created_at)
        .bind(state.expires_at);
        self.execute("insert_oauth_state", query).await?;
        Ok(())
    }

    async fn consume_oauth_state(
        &mut self,
        state_hash: &str,
        provider: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OAuthState>> {
        let query = sqlx::query_as(concat!(
            "UPDATE oauth_states SET consumed_at = $3 WHERE state_hash = $1 AND provider = $2 \
             AND consumed_at IS NULL AND expires_at > $3 RETURNING ",
            columns!(OAuthState)
        ))
        .bind(state_hash)
        .bind(provider)
        .bind(now);
        self.fetch_optional("consume_oauth_state", query).await
    }

    async fn insert_handoff(&mut self, handoff: &OAuthHandoff) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO oauth_handoffs (code_hash, user_id, provider, client_code_challenge, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(handoff.code_hash.as_str())
        .bind(handoff.user_id)
        .bind(handoff.provider.as_str())
        .bind(handoff.client_code_challenge.as_deref())
        .bind(handoff.created_at)
        .bind(handoff.expires_at);
        self.execute("insert_handoff", query).await?;
        Ok(())
    }

    async fn consume_handoff(
        &mut self,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OAuthHandoff>> {
        let query = sqlx::query_as(concat!(
            "UPDATE oauth_handoffs SET consumed_at = $2 WHERE code_hash = $1 \
             AND consumed_at IS NULL AND expires_at > $2 RETURNING ",
            columns!(OAuthHandoff)
        ))
        .bind(code_hash)
        .bind(now);
        self.fetch_optional("consume_handoff", query).await
    }

    async fn account_by_identity(
        &mut self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<Account>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(Account),
            " FROM accounts WHERE provider_id = $1 AND account_id = $2"
        ))
        .bind(provider)
        .bind(subject);
        self.fetch_optional("account_by_identity", query).await
    }

    async fn insert_account(&mut self, account: &Account) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO accounts (id, user_id, provider_id, account_id, email, scope, \
             access_token_enc, access_token_expires_at, refresh_token_enc, \
             refresh_token_expires_at, id_token_enc, raw, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(account.id)
        .bind(account.user_id)
        .bind(account.provider_id.as_str())
        .bind(account.account_id.as_str())
        .bind(account.email.as_deref())
        .bind(account.scope.as_deref())
        .bind(account.access_token_enc.as_deref())
        .bind(account.access_token_expires_at)
        .bind(account.refresh_token_enc.as_deref())
        .bind(account.refresh_token_expires_at)
        .bind(account.id_token_enc.as_deref())
        .bind(account.raw.as_deref())
        .bind(account.created_at)
        .bind(account.updated_at);
        self.execute("insert_account", query).await?;
        Ok(())
    }

    async fn refresh_account(&mut self, account: &Account) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE accounts SET email = $2, scope = $3, access_token_enc = $4, \
             access_token_expires_at = $5, refresh_token_enc = COALESCE($6, refresh_token_enc), \
             refresh_token_expires_at = CASE WHEN $6 IS NULL THEN refresh_token_expires_at \
             ELSE $7 END, id_token_enc = $8, raw = $9, updated_at = $10 \
             WHERE id = $1",
        )
        .bind(account.id)
        .bind(account.email.as_deref())
        .bind(account.scope.as_deref())
        .bind(account.access_token_enc.as_deref())
        .bind(account.access_token_expires_at)
        .bind(account.refresh_token_enc.as_deref())
        .bind(account.refresh_token_expires_at)
        .bind(account.id_token_enc.as_deref())
        .bind(account.raw.as_deref())
        .bind(account.updated_at);
        self.execute("refresh_account", query).await?;
        Ok(())
    }

    async fn accounts_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Account>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(Account),
            " FROM accounts WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id);
        self.fetch_all("accounts_of_user", query).await
    }

    async fn delete_account(&mut self, id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM accounts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id);
        Ok(self.execute("delete_account", query).await? > 0)
    }

    async fn lock_user(&mut self, user_id: Uuid) -> StoreResult<Option<bool>> {
        let query = sqlx::query_as(
            "UPDATE users SET updated_at = updated_at WHERE id = $1 \
             RETURNING password_hash IS NOT NULL",
        )
        .bind(user_id);
        let row: Option<(bool,)> = self.fetch_optional("lock_user", query).await?;
        Ok(row.map(|(has_password,)| has_password))
    }

    async fn insert_pending_link(&mut self, link: &PendingLink) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO pending_links (code_hash, user_id, provider, sealed, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(link.code_hash.as_str())
        .bind(link.user_id)
        .bind(link.provider.as_str())
        .bind(link.sealed.as_str())
        .bind(link.created_at)
        .bind(link.expires_at);
        self.execute("insert_pending_link", query).await?;
        Ok(())
    }

    async fn take_pending_link(
        &mut self,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<PendingLink>> {
        // Deleted whoever presents it: a link code works once, also when the
        // wrong user tried it first.
        let query = sqlx::query_as(concat!(
            "DELETE FROM pending_links WHERE code_hash = $1 RETURNING ",
            columns!(PendingLink)
        ))
        .bind(code_hash);
        let taken: Option<PendingLink> = self.fetch_optional("take_pending_link", query).await?;
        Ok(taken.filter(|link| link.expires_at > now))
    }

    async fn end_link_flows(&mut self, user_id: Uuid) -> StoreResult<u64> {
        let mut ended = 0;
        for sql in [
            "DELETE FROM oauth_states WHERE user_id = $1",
            "DELETE FROM pending_links WHERE user_id = $1",
        ] {
            ended += self
                .execute("end_link_flows", sqlx::query(sql).bind(user_id))
                .await?;
        }
        Ok(ended)
    }

    async fn delete_accounts_of_user(&mut self, user_id: Uuid) -> StoreResult<u64> {
        let query = sqlx::query("DELETE FROM accounts WHERE user_id = $1").bind(user_id);
        self.execute("delete_accounts_of_user", query).await
    }
}}
