//! A stand-in for Have I Been Pwned's range API on loopback (tests never
//! call the real service).

use actix_web::{web, HttpResponse};
use sha1::{Digest, Sha1};

pub struct FakePwned {
    pub base: String,
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
        let base = super::serve_stand_in(move |routes| {
            let hashes = hashes.clone();
            routes.route(
                "/range/{prefix}",
                web::get().to(move |prefix: web::Path<String>| {
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
        Self { base }
    }
}
