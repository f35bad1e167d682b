//! The text of every mail: a subject and plain-text body (`<name>.txt`, the
//! first line is the subject) and an HTML body (`<name>.html`, autoescaped)
//! per language. Built-in templates ship in the binary; a directory with the
//! same layout (`<locale>/<name>.txt|html`, `layout.html`) overrides any of
//! them. Every template is rendered once at start-up, so a broken override
//! stops the service instead of a mail.

use super::{Mail, MailError};
use crate::domain::Locale;
use minijinja::Environment;
use serde_json::{json, Map, Value};
use std::path::Path;

/// Which mail to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    VerifyEmail,
    SignIn,
    Invite,
    ResetPassword,
    ChangeEmail,
    EmailChangeRequested,
    PasswordChanged,
    AlreadyRegistered,
    EmailChanged,
    AccountLinked,
    /// A second factor or the recovery codes changed (`event` says how).
    FactorChanged,
}

impl MailKind {
    const ALL: [MailKind; 11] = [
        MailKind::VerifyEmail,
        MailKind::SignIn,
        MailKind::Invite,
        MailKind::ResetPassword,
        MailKind::ChangeEmail,
        MailKind::EmailChangeRequested,
        MailKind::PasswordChanged,
        MailKind::AlreadyRegistered,
        MailKind::EmailChanged,
        MailKind::AccountLinked,
        MailKind::FactorChanged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::SignIn => "sign_in",
            MailKind::Invite => "invite",
            MailKind::ResetPassword => "reset_password",
            MailKind::ChangeEmail => "change_email",
            MailKind::EmailChangeRequested => "email_change_requested",
            MailKind::PasswordChanged => "password_changed",
            MailKind::AlreadyRegistered => "already_registered",
            MailKind::EmailChanged => "email_changed",
            MailKind::AccountLinked => "account_linked",
            MailKind::FactorChanged => "factor_changed",
        }
    }
}

macro_rules! builtin {
    ($($locale:literal / $name:literal),* $(,)?) => {
        &[$(
            (concat!($locale, "/", $name, ".txt"),
             include_str!(concat!("../../templates/mail/", $locale, "/", $name, ".txt"))),
            (concat!($locale, "/", $name, ".html"),
             include_str!(concat!("../../templates/mail/", $locale, "/", $name, ".html"))),
        )*]
    };
}

const BUILTIN: &[(&str, &str)] = builtin!(
    "en" / "verify_email",
    "en" / "sign_in",
    "en" / "invite",
    "en" / "reset_password",
    "en" / "change_email",
    "en" / "email_change_requested",
    "en" / "password_changed",
    "en" / "already_registered",
    "en" / "email_changed",
    "en" / "account_linked",
    "en" / "factor_changed",
    "de" / "verify_email",
    "de" / "sign_in",
    "de" / "invite",
    "de" / "reset_password",
    "de" / "change_email",
    "de" / "email_change_requested",
    "de" / "password_changed",
    "de" / "already_registered",
    "de" / "email_changed",
    "de" / "account_linked",
    "de" / "factor_changed",
);
const LAYOUT: &str = include_str!("../../templates/mail/layout.html");

#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
    public_url: String,
}

impl Templates {
    /// The built-in templates, with overrides from `dir` where it has them.
    pub fn load(public_url: &str, dir: Option<&Path>) -> Result<Self, MailError> {
        let mut env = Environment::new();
        let sources = BUILTIN.iter().copied().chain([("layout.html", LAYOUT)]);
        for (name, builtin) in sources {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| {
                    MailError::Config(format!("mail template {}: {e}", path.display()))
                })?,
                None => builtin.to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| MailError::Config(format!("mail template {name}: {e}")))?;
        }
        let templates = Self {
            env,
            public_url: public_url.to_string(),
        };
        templates.check()?;
        Ok(templates)
    }

    /// Renders every template with sample values.
    fn check(&self) -> Result<(), MailError> {
        let sample = json!({"code": "01234567", "link": "https://example.com/#token=x",
                            "minutes": 10, "reset": true, "event": "enabled",
                            "remaining": 9});
        for locale in Locale::ALL {
            for kind in MailKind::ALL {
                self.render(kind, locale, "someone@example.com", &sample)?;
            }
        }
        Ok(())
    }

    /// Writes `kind` in `locale` to `to`; `values` fill the template
    /// (`public_url` and `locale` are always there).
    pub fn render(
        &self,
        kind: MailKind,
        locale: Locale,
        to: &str,
        values: &Value,
    ) -> Result<Mail, MailError> {
        let mut context = match values {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        context.insert("public_url".into(), json!(self.public_url));
        context.insert("locale".into(), json!(locale.as_str()));
        let render = |ext: &str| {
            let name = format!("{}/{}.{ext}", locale.as_str(), kind.name());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&context))
                .map_err(|e| MailError::Config(format!("mail template {name}: {e}")))
        };
        let text = render("txt")?;
        let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        Ok(Mail {
            to: to.to_string(),
            subject: subject.trim().to_string(),
            text: body.trim_start_matches('\n').to_string(),
            html: Some(render("html")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_renders_in_every_language() {
        let templates = Templates::load("https://auth.example.com", None).unwrap();
        let values = json!({"code": "12345678", "link": "https://app.example/#token=abc",
                            "minutes": 10, "reset": false});
        let en = templates
            .render(MailKind::SignIn, Locale::En, "a@example.com", &values)
            .unwrap();
        assert_eq!(en.subject, "Your sign-in code");
        assert!(en.text.contains("12345678") && en.text.contains("#token=abc"));
        let de = templates
            .render(MailKind::SignIn, Locale::De, "a@example.com", &values)
            .unwrap();
        assert_eq!(de.subject, "Dein Anmeldecode");
        assert!(de.html.unwrap().contains("lang=\"de\""));
    }

    #[test]
    fn html_is_escaped() {
        let templates = Templates::load("https://auth.example.com", None).unwrap();
        let values = json!({"code": "<b>", "link": "\"><script>", "minutes": 1});
        let mail = templates
            .render(MailKind::SignIn, Locale::En, "a@example.com", &values)
            .unwrap();
        let html = mail.html.unwrap();
        assert!(!html.contains("<script>") && !html.contains("<b>"));
    }

    #[test]
    fn a_directory_overrides_single_templates() {
        let dir = std::env::temp_dir().join(format!("portcullis-tpl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("de")).unwrap();
        std::fs::write(dir.join("de/sign_in.txt"), "Hallo\n\nCode {{ code }}\n").unwrap();
        let templates = Templates::load("https://a.example", Some(&dir)).unwrap();
        let values = json!({"code": "12345678", "link": "l", "minutes": 1});
        let de = templates
            .render(MailKind::SignIn, Locale::De, "a@example.com", &values)
            .unwrap();
        assert_eq!(
            (de.subject.as_str(), de.text.as_str()),
            ("Hallo", "Code 12345678")
        );
        std::fs::write(dir.join("de/sign_in.txt"), "Hallo {% if %}").unwrap();
        assert!(Templates::load("https://a.example", Some(&dir)).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
