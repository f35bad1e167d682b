//! Argon2id hashes per second on one core: Portcullis's hasher (argon2-rust
//! on a dedicated thread, its arena reused) beside RustCrypto's `argon2`
//! (what Portcullis used before, with its memory reused too), at the same
//! parameters. Run by `bench/hash-rate`, which adds the peer's library
//! (@node-rs/argon2) in the same invocation.
//!
//! `cargo run --release --example hash_rate -- [seconds=10] [m=19456] [t=2] [p=1] [ours-only]`
//!
//! `ours-only` skips RustCrypto's: `bench/hash-rate` starts one such process
//! per CPU at once, to measure what every core hashing together gets.

use portcullis::hashing::PasswordHasher;
use std::time::{Duration, Instant};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seconds = Duration::from_secs(arg(1, 10));
    let (m, t, p) = (arg(2, 19_456) as u32, arg(3, 2) as u32, arg(4, 1) as u32);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Ours: one permit, one hashing thread, normal priority.
    let hasher = PasswordHasher::new(m, t, p, 1, 8, 100, 0).unwrap();
    let ours = rate(seconds, || {
        runtime
            .block_on(hasher.hash(None, "correct horse battery staple"))
            .unwrap();
    });

    if std::env::args().nth(5).as_deref() == Some("ours-only") {
        println!("{ours:.1}");
        return;
    }

    // RustCrypto argon2 0.6, memory reused as Portcullis did before.
    let params = argon2::Params::new(m, t, p, Some(32)).unwrap();
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    );
    let mut memory = vec![argon2::Block::new(); params.block_count()];
    let mut out = [0u8; 32];
    let rustcrypto = rate(seconds, || {
        argon2
            .hash_password_into_with_memory(
                b"correct horse battery staple",
                b"0123456789abcdef",
                &mut out,
                &mut memory[..],
            )
            .unwrap();
    });

    for (label, per_second) in [
        ("portcullis (argon2-rust 1.1.0)", ours),
        ("rustcrypto argon2 0.6", rustcrypto),
    ] {
        println!(
            "{{\"label\":\"{label}\",\"m\":{m},\"t\":{t},\"p\":{p},\"hashes_per_s_one_core\":{per_second:.1}}}"
        );
    }
}

/// Runs `hash` for `seconds` (after two warm-up runs); hashes per second.
fn rate(seconds: Duration, mut hash: impl FnMut()) -> f64 {
    hash();
    hash();
    let started = Instant::now();
    let mut done = 0u32;
    while started.elapsed() < seconds {
        hash();
        done += 1;
    }
    f64::from(done) / started.elapsed().as_secs_f64()
}
