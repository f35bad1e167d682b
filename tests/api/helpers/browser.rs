//! A browser for the OAuth tests: keeps cookies, follows redirects only when
//! the test says so.

use reqwest::Url;

/// The frontend page the sign-in flows return to (on the allow-list).
pub const FRONTEND: &str = "http://app.test/callback";

/// A browser: keeps cookies, follows no redirect by itself. Each sign-in
/// uses a fresh one, so the provider asks who logs in every time.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}
