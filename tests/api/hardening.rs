//! Smaller hardening: private SQLite files, CORS for every method of the
//! API, a docs page that runs no third-party script, and production's refusal
//! to trust forwarded headers from the whole internet.
//! (What a browser does is also tested in a real one: `tests/browser`.)

use crate::backend_tests;
use crate::binary::{binary, temp_dir, Server};
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

backend_tests!(
    every_method_of_the_spec_passes_a_preflight_from_an_allowed_origin,
    a_cross_origin_put_gets_a_readable_problem,
    the_docs_page_runs_only_same_origin_scripts,
);

const ORIGIN: &str = "https://app.example.com";

/// Every (method, path) pair of the OpenAPI document, path parameters filled.
fn operations(spec: &Value) -> Vec<(Method, String)> {
    let mut operations = Vec::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        let path: String = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "00000000-0000-0000-0000-000000000000"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            if let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
                operations.push((method, path.clone()));
            }
        }
    }
    operations
}

async fn every_method_of_the_spec_passes_a_preflight_from_an_allowed_origin(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.cors_allowed_origins = vec![ORIGIN.into()]).await;
    let spec: Value = app.get_json("/openapi.json", None).await;
    let operations = operations(&spec);
    let methods: Vec<&str> = operations.iter().map(|(m, _)| m.as_str()).collect();
    for expected in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(&expected), "the spec uses {expected}");
    }
    for (method, path) in &operations {
        let answer = app.preflight(ORIGIN, method, path).await;
        assert!(
            answer.status().is_success(),
            "preflight {method} {path}: {}",
            answer.status()
        );
        let headers = answer.headers();
        assert_eq!(
            headers["access-control-allow-origin"], ORIGIN,
            "{method} {path}"
        );
        let allowed = headers["access-control-allow-methods"].to_str().unwrap();
        assert!(
            allowed.split(',').any(|m| m.trim() == method.as_str()),
            "{method} {path}: allowed {allowed}"
        );
        let allowed_headers = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            allowed_headers.contains("authorization") && allowed_headers.contains("content-type")
        );
        assert!(headers.get("access-control-allow-credentials").is_none());
    }
    // Another origin learns nothing, whatever the method.
    let refused = app
        .preflight(
            "https://evil.example",
            &Method::PUT,
            "/v1/users/me/password",
        )
        .await;
    assert_no_cors_grant(&refused);
}

async fn a_cross_origin_put_gets_a_readable_problem(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.cors_allowed_origins = vec![ORIGIN.into()]).await;
    let answer = app
        .client
        .put(app.url("/v1/users/me/password"))
        .header("origin", ORIGIN)
        .bearer_auth("not-a-token")
        .json(&serde_json::json!({"current_password": PASSWORD, "new_password": "another long passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["access-control-allow-origin"], ORIGIN);
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    assert!(exposed.contains("portcullis-refresh-replayed"), "{exposed}");
    let (status, body) = problem(answer).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], 401);
}

/// The directives of a Content-Security-Policy header, by name.
fn directives(csp: &str) -> Vec<(String, Vec<String>)> {
    csp.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_whitespace().map(str::to_string);
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

/// `(attributes, content)` of each `<script>` element of a page.
fn scripts(html: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start + "<script".len()..];
        let open_end = after.find('>').unwrap();
        let attributes = after[..open_end].to_string();
        let body = &after[open_end + 1..];
        let close = body.find("</script>").unwrap();
        found.push((attributes, body[..close].to_string()));
        rest = &body[close + "</script>".len()..];
    }
    found
}

fn attribute(attributes: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = attributes.find(&key)? + key.len();
    let end = attributes[start..].find('"')?;
    Some(attributes[start..start + end].to_string())
}

async fn the_docs_page_runs_only_same_origin_scripts(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.get("/docs", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();

    // The policy names no other origin (no host, no http(s):, no wildcard),
    // only keywords and local data (data:, blob:), and allows scripts from
    // this origin only: no inline script, no eval.
    let policy = directives(&csp);
    for (name, sources) in &policy {
        for source in sources {
            assert!(
                source.starts_with('\'') || source == "data:" || source == "blob:",
                "{name} allows {source}: {csp}"
            );
        }
    }
    let script_src = policy
        .iter()
        .find(|(name, _)| name == "script-src")
        .map(|(_, sources)| sources.clone())
        .expect("a script-src directive");
    assert_eq!(script_src, ["'self'"], "{csp}");
    assert!(policy
        .iter()
        .any(|(n, s)| n == "default-src" && s == &["'none'"]));
    assert!(policy
        .iter()
        .any(|(n, s)| n == "frame-ancestors" && s == &["'none'"]));

    // Each script is either inert data (the spec) or a same-origin file.
    let spec_json = app.get("/openapi.json", None).await.text().await.unwrap();
    let spec: Value = serde_json::from_str(&spec_json).unwrap();
    let mut sources = Vec::new();
    for (attributes, content) in scripts(&html) {
        match attribute(&attributes, "src") {
            Some(src) => {
                assert!(content.trim().is_empty(), "{attributes}");
                assert!(
                    !src.contains("//") && !src.contains(':'),
                    "{src} is not same-origin"
                );
                sources.push(src);
            }
            None => {
                assert_eq!(
                    attribute(&attributes, "type").as_deref(),
                    Some("application/json"),
                    "an inline script that would run: {attributes}"
                );
                let embedded: Value = serde_json::from_str(&content).unwrap();
                assert_eq!(embedded, spec, "the page embeds the served spec");
            }
        }
    }
    assert_eq!(sources.len(), 1, "{html}");

    // The renderer comes from the binary, cacheable, as JavaScript.
    let script = app.get(&format!("/{}", sources[0]), None).await;
    assert_eq!(script.status(), StatusCode::OK);
    let headers = script.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    let body = script.bytes().await.unwrap();
    let vendored =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scalar/standalone.js"))
            .unwrap();
    assert!(body == vendored, "the vendored bundle, byte for byte");
    let plain = app.get("/docs/scalar.js", None).await;
    assert_eq!(plain.status(), StatusCode::OK);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The binary with no configuration, as the README starts it: the database
/// and its WAL files are readable by their owner only, like the secret.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    let dir = temp_dir();
    let server = Server::start(&dir, &[]).await;
    let response = reqwest::Client::new()
        .post(server.url("/v1/users"))
        .json(&serde_json::json!({"email": unique_email(), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    for file in [
        "portcullis.db",
        "portcullis.db-wal",
        "portcullis.db-shm",
        "portcullis.secret",
    ] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The same through a `sqlite://` URL to another directory, in process.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_at_a_configured_path_are_private() {
    let app = spawn_app(Backend::Sqlite).await;
    app.sign_up(&unique_email(), PASSWORD).await;
    let db = app.db.url.strip_prefix("sqlite://").unwrap().to_string();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{db}{suffix}");
        assert_eq!(mode(Path::new(&file)), 0o600, "{file}");
    }
}

/// Production refuses to believe `X-Forwarded-For` from the whole internet.
#[test]
fn production_refuses_to_trust_every_proxy() {
    let dir = temp_dir();
    for block in ["0.0.0.0/0", "::/0", "0.0.0.0/4"] {
        let log = dir.join("stderr.log");
        let mut child = binary()
            .current_dir(&dir)
            .env("PORTCULLIS_ENV", "production")
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_SECRET", SECRET)
            .env("PORTCULLIS_SMTP_URL", "smtp://127.0.0.1:2525")
            .env("PORTCULLIS_PUBLIC_URL", "https://auth.example.com")
            .env(
                "PORTCULLIS_TRUSTED_PROXIES",
                format!("[\"10.0.0.1\", \"{block}\"]"),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Accepted, it would serve until stopped: the wait is bounded.
        let status = wait_bounded(&mut child, Duration::from_secs(30));
        let stderr = std::fs::read_to_string(&log).unwrap();
        assert!(!status.success(), "{block}: {stderr}");
        assert!(
            stderr.contains("trusted_proxies") && stderr.contains(block),
            "{block}: {stderr}"
        );
    }
    // The same list is accepted in development (a test rig behind anything).
    let mut child = binary()
        .current_dir(&dir)
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_TRUSTED_PROXIES", "[\"0.0.0.0/0\"]")
        .arg("migrate")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert!(status.success());
    std::fs::remove_dir_all(dir).unwrap();
}

fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
