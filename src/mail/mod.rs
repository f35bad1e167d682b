//! Outgoing mail: an SMTP transport (lettre) or, in development, the log.
//! Mail is handed to a background task so that a slow or absent SMTP server
//! never shows in response times (which would also reveal which branch a
//! request took).

mod templates;

pub use templates::Templates;

use crate::config::Settings;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// A rendered message to one recipient.
#[derive(Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
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
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
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

#[derive(Clone)]
pub struct Mailer {
    transport: Arc<dyn MailTransport>,
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> Result<Self, MailError> {
        let transport: Arc<dyn MailTransport> = match &settings.smtp_url {
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
        };
        Ok(Self { transport })
    }

    /// Delivers in the background; failures are logged (without the body).
    pub fn send(&self, mail: Mail) {
        let transport = self.transport.clone();
        tokio::spawn(async move {
            if let Err(error) = transport.deliver(&mail).await {
                tracing::error!(error = ?error, subject = %mail.subject, "mail delivery failed");
            }
        });
    }
}
