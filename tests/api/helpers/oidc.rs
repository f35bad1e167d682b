//! A real OpenID provider for the tests: panva/oidc-provider (the certified
//! Node.js implementation) run by `tests/oidc/provider.mjs`, one process per
//! test. The npm packages are installed on first use (`npm ci`).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

pub const CLIENT_ID: &str = "portcullis";
pub const CLIENT_SECRET: &str = "portcullis-test-secret";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Node.js runs the test OpenID provider. Without it the social sign-in tests
/// fail with this message rather than pass without having run.
pub fn node_available() -> bool {
    let found = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "Node.js (node, npm) is required: the social sign-in tests run a real OpenID \
         provider (tests/oidc); install it from the Debian or npm packages"
    );
    found
}

fn ensure_installed() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if *done
        || provider_dir()
            .join("node_modules/oidc-provider/package.json")
            .exists()
    {
        *done = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(provider_dir())
        .status()
        .expect("npm is needed to install the test OpenID provider");
    assert!(status.success(), "npm ci in tests/oidc failed");
    *done = true;
}

pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    client: reqwest::Client,
}

impl OidcProvider {
    /// Starts a provider whose one client may redirect to `redirect_uris`.
    pub async fn start(redirect_uris: &[String]) -> Self {
        ensure_installed();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URIS", redirect_uris.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node could not start the test OpenID provider");
        // The first line says where it listens; the rest is drained so that
        // the provider never writes into a closed pipe (EPIPE kills node).
        let stdout = child.stdout.take().unwrap();
        let (first_line, ready) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_line.send(lines.next().and_then(Result::ok).unwrap_or_default());
            lines.for_each(drop);
        });
        let line = ready.await.unwrap_or_default();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the provider did not start: {line:?}"));
        Self {
            child,
            issuer: ready["issuer"].as_str().unwrap().to_string(),
            client: reqwest::Client::new(),
        }
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/__test/{path}", self.issuer);
        let response = super::post_json_to(&self.client, url, &body).await;
        response.json().await.unwrap()
    }

    /// Adds an account and makes it the one the next login signs in as.
    pub async fn login_as(&self, claims: Value) {
        let sub = claims["sub"].clone();
        self.control("accounts", claims).await;
        self.control("next-login", serde_json::json!({ "sub": sub }))
            .await;
    }

    /// Overrides claims of the ID tokens it issues from now on, or delays
    /// the token endpoint.
    pub async fn tamper(&self, settings: Value) {
        self.control("tamper", settings).await;
    }

    pub async fn last_token_response(&self) -> Value {
        let url = format!("{}/__test/last-token", self.issuer);
        let response = super::get_from(&self.client, url, None).await;
        response.json().await.unwrap()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}
