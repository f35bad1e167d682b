//! The text of every mail. Plain ASCII text, so that it travels as 7bit.

use super::Mail;

#[derive(Clone)]
pub struct Templates {
    public_url: String,
}

impl Templates {
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.to_string(),
        }
    }

    pub fn verify_email(&self, to: &str, code: &str, link: &str, valid_minutes: u64) -> Mail {
        Mail {
            to: to.to_string(),
            subject: "Verify your email address".into(),
            text: format!(
                "Welcome!\n\n\
                 Your verification code is: {code}\n\n\
                 Or open this link to verify your address:\n{link}\n\n\
                 The code and the link can be used once and expire in {valid_minutes} minutes.\n\
                 If you did not sign up, ignore this mail: nothing happens without the code.\n"
            ),
        }
    }

    pub fn already_registered(&self, to: &str) -> Mail {
        Mail {
            to: to.to_string(),
            subject: "Someone tried to sign up with your address".into(),
            text: format!(
                "Someone (perhaps you) tried to create an account with this address at {}, \
                 but an account already exists.\n\n\
                 If it was you, sign in instead. If it was not, you can ignore this mail: \
                 your account has not been changed.\n",
                self.public_url
            ),
        }
    }
}
