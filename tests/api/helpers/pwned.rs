//! A stand-in for Have I Been Pwned's range API on loopback (tests never
//! call the real service).

use actix_web::{web, HttpRequest, HttpResponse};
use sha1::{Digest, Sha1};
use std::sync::{Arc, Mutex};

pub struct FakePwned {
    pub base: String,
    /// The `traceparent` header of every request, in order ("" if none).
    pub traceparents: Arc<Mutex<Vec<String>>>,
}

impl FakePwned {
    /// Knows `breached` passwords; answers every prefix with padding lines too.
    pub fn start(breached: &[&str]) -> Self {
        let hashes: Vec<String> = breached
            .iter()
            .map(|p| {
                Sha1::digest(p.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect()
            })
            .collect();
        let traceparents: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = traceparents.clone();
        let base = super::serve_stand_in(move |routes| {
            let hashes = hashes.clone();
            let seen = seen.clone();
            routes.route(
                "/range/{prefix}",
                web::get().to(move |request: HttpRequest, prefix: web::Path<String>| {
                    let traceparent = request
                        .headers()
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    seen.lock().unwrap().push(traceparent.to_string());
                    let mut lines: Vec<String> = hashes
                        .iter()
                        .filter(|h| h.starts_with(prefix.as_str()))
                        .map(|h| format!("{}:42", &h[5..]))
                        .collect();
                    // Padding entries, as the real API sends with Add-Padding.
                    lines.push(format!("{}:0", "0".repeat(35)));
                    async move { HttpResponse::Ok().body(lines.join("\r\n")) }
                }),
            );
        });
        Self { base, traceparents }
    }
}
