//! Outgoing mail: templates, a transactional outbox, and an SMTP transport
//! (lettre) or, in development, the log. A mail is written to the outbox in
//! the transaction that causes it and sent by a background worker, so a slow
//! or absent SMTP server never shows in response times (which would also
//! reveal which branch a request took) and no mail is lost while it is down.

mod outbox;
mod templates;

pub use outbox::{spawn_worker, Outbox};
pub use templates::{MailKind, Templates};

use crate::config::Settings;
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// A rendered message to one recipient.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail configuration: {0}")]
    Config(String),
    #[error("invalid address")]
    Address,
    #[error("message could not be built")]
    Build(#[source] lettre::error::Error),
    #[error("SMTP delivery failed")]
    Smtp(#[source] lettre::transport::smtp::Error),
}

#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn deliver(&self, mail: &Mail) -> Result<(), MailError>;
}

struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn deliver(&self, mail: &Mail) -> Result<(), MailError> {
        let to: Mailbox = mail.to.parse().map_err(|_| MailError::Address)?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject);
        let message = match &mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(mail.text.clone())),
        }
        .map_err(MailError::Build)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(MailError::Smtp)
    }
}

/// Development only: the message, code included, goes to the log.
struct LogTransport;

#[async_trait]
impl MailTransport for LogTransport {
    async fn deliver(&self, mail: &Mail) -> Result<(), MailError> {
        tracing::warn!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.text,
            "DEVELOPMENT ONLY: mail written to the log instead of being sent (set PORTCULLIS_SMTP_URL)"
        );
        Ok(())
    }
}

/// The configured transport: SMTP when `smtp_url` is set, else the log.
pub fn transport(settings: &Settings) -> Result<Arc<dyn MailTransport>, MailError> {
    Ok(match &settings.smtp_url {
        None => Arc::new(LogTransport),
        Some(url) => {
            let from: Mailbox = settings
                .mail_from
                .parse()
                .map_err(|_| MailError::Config("mail_from is not a valid mailbox".into()))?;
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .map_err(|_| MailError::Config("smtp_url is not a valid SMTP URL".into()))?
                .timeout(Some(Duration::from_secs(settings.smtp_timeout_secs)))
                .build();
            Arc::new(SmtpTransport { transport, from })
        }
    })
}
