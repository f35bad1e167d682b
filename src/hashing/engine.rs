//! The Argon2 computation: argon2-rust for the work, RustCrypto's `argon2`
//! for the PHC strings.
//!
//! Why two crates: RustCrypto's implementation relies on the compiler to
//! vectorise its block function and reaches ~65 hashes/s per core at
//! m=19456 t=2 p=1 here, while argon2-rust (the engine inside
//! `@node-rs/argon2`, Better Auth's hasher) has hand-written AVX-512, AVX2,
//! SSE2 and NEON block functions picked at run time, and reaches about twice
//! that on the same core; the binary still runs on any x86-64 or aarch64.
//! RustCrypto stays for what it does well and has been reviewed for: parsing
//! and writing PHC strings and the constant-time comparison. The unit tests
//! hold the two against each other and against RFC 9106's test vector.
//!
//! Each worker thread keeps one `argon2_rust::Hasher`, whose arena is reused
//! from one hash to the next: a fresh 19 MiB buffer per hash, freed on
//! whichever thread ran it, was kept by the allocator's per-thread arenas and
//! drove the process to ~800 MiB under a sign-in burst.

use super::workers::Workers;
use super::{HashError, Verdict};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2_rust::params::{Memory, TagLen};
use rand::RngCore;

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// The configured parameters and the threads that compute.
pub(super) struct Engine {
    /// For the PHC string of a new hash.
    phc_params: argon2::Params,
    configured: argon2_rust::Argon2,
    workers: Workers,
}

/// What a job gets on its worker thread: the configuration and the
/// thread's own arena.
pub(super) struct Computation<'a> {
    phc_params: &'a argon2::Params,
    configured: &'a argon2_rust::Argon2,
    arena: &'a mut argon2_rust::Hasher,
}

impl Engine {
    pub(super) fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        threads: usize,
        nice: i8,
    ) -> Result<Self, HashError> {
        let phc_params = argon2::Params::new(memory_kib, iterations, parallelism, Some(OUTPUT_LEN))
            .map_err(|e| HashError::Params(e.to_string()))?;
        let configured = argon2id(
            argon2_rust::Algorithm::Argon2id,
            argon2_rust::Version::V0x13,
            memory_kib,
            iterations,
            parallelism,
            OUTPUT_LEN,
        )?;
        tracing::info!(
            backend = ?argon2_rust::detected_backend(),
            threads,
            nice,
            "password hashing engine"
        );
        Ok(Self {
            phc_params,
            configured,
            workers: Workers::start(threads, nice, configured)?,
        })
    }

    /// Runs `job` on a hashing thread.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Computation<'_>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (phc_params, configured) = (self.phc_params.clone(), self.configured);
        let span = tracing::info_span!("password_hash", algorithm = "argon2id");
        self.workers
            .run(move |arena| {
                span.in_scope(|| {
                    job(&mut Computation {
                        phc_params: &phc_params,
                        configured: &configured,
                        arena,
                    })
                })
            })
            .await
    }

    /// Runs `job` on the calling thread (start-up: the dummy hash).
    pub(super) fn run_now<T>(&self, job: impl FnOnce(&mut Computation<'_>) -> T) -> T {
        let mut arena = self.configured.hasher();
        job(&mut Computation {
            phc_params: &self.phc_params,
            configured: &self.configured,
            arena: &mut arena,
        })
    }
}

impl Computation<'_> {
    /// Argon2id with a new random salt, as a PHC string.
    pub(super) fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let failed = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let mut out = [0u8; OUTPUT_LEN];
        self.arena.set_argon2(*self.configured);
        self.arena
            .hash_into(password, &salt, &mut out)
            .map_err(|e| failed(&e))?;
        let phc = PasswordHash {
            algorithm: argon2::Algorithm::Argon2id.ident(),
            version: Some(argon2::Version::V0x13.into()),
            params: ParamsString::try_from(self.phc_params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Recomputes the stored hash with its own algorithm, version and
    /// parameters and compares in constant time (`Output`'s equality).
    pub(super) fn verify(&mut self, password: &[u8], stored: &str) -> Verdict {
        let Some((stored_as, salt, expected)) = parse(stored) else {
            return Verdict::Mismatch;
        };
        let mut out = vec![0u8; expected.len()];
        self.arena.set_argon2(stored_as);
        let computed = self.arena.hash_into(password, salt.as_ref(), &mut out);
        let matches = computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected);
        if !matches {
            Verdict::Mismatch
        } else if stored_as == *self.configured {
            Verdict::Match
        } else {
            Verdict::MatchNeedsRehash
        }
    }
}

/// The configuration, salt and tag of a stored PHC string; `None` for
/// anything but a plain Argon2 hash (no secret key or associated data, which
/// Portcullis never writes).
fn parse(stored: &str) -> Option<(argon2_rust::Argon2, Vec<u8>, Output)> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = match argon2::Algorithm::try_from(parsed.algorithm.as_str()).ok()? {
        argon2::Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
        argon2::Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
        argon2::Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
    };
    let version = match parsed
        .version
        .map_or(Ok(argon2::Version::V0x13), argon2::Version::try_from)
        .ok()?
    {
        argon2::Version::V0x10 => argon2_rust::Version::V0x10,
        argon2::Version::V0x13 => argon2_rust::Version::V0x13,
    };
    let params = argon2::Params::try_from(&parsed).ok()?;
    if !params.keyid().is_empty() || !params.data().is_empty() {
        return None;
    }
    let (salt, expected) = (parsed.salt?, parsed.hash?);
    let salt = salt.as_ref().to_vec();
    let configuration = argon2id(
        algorithm,
        version,
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        expected.len(),
    )
    .ok()?;
    Some((configuration, salt, expected))
}

pub(super) fn argon2id(
    algorithm: argon2_rust::Algorithm,
    version: argon2_rust::Version,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    tag_len: usize,
) -> Result<argon2_rust::Argon2, HashError> {
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(memory_kib)))
        .passes(iterations)
        .lanes(parallelism)
        .tag_len(TagLen::bytes(tag_len as u64))
        .build()
        .map_err(|e| HashError::Params(e.to_string()))?;
    Ok(argon2_rust::Argon2::new(algorithm, version, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    fn engine(memory_kib: u32, iterations: u32, parallelism: u32) -> Engine {
        Engine::new(memory_kib, iterations, parallelism, 1, 0).unwrap()
    }

    #[test]
    fn rfc_9106_test_vector() {
        // RFC 9106 §5.3, Argon2id: the standard's own answer, on whichever
        // SIMD backend this CPU selected.
        let argon2 = argon2id(
            argon2_rust::Algorithm::Argon2id,
            argon2_rust::Version::V0x13,
            32,
            3,
            4,
            32,
        )
        .unwrap();
        let mut tag = [0u8; 32];
        argon2
            .hash_into_with_ad(&[1; 32], &[2; 16], &[3; 8], &[4; 12], &mut tag)
            .unwrap();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    #[test]
    fn agrees_with_rustcrypto_both_ways() {
        // RustCrypto's argon2 is an independent implementation: every hash
        // one makes, the other verifies, across parameter shapes (lanes,
        // passes, memory not a multiple of the lane count's segments).
        for (m, t, p) in [
            (8, 1, 1),
            (64, 2, 1),
            (1024, 1, 2),
            (1000, 3, 4),
            (19_456, 2, 1),
        ] {
            let ours = engine(m, t, p);
            let theirs = argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon2::Params::new(m, t, p, Some(32)).unwrap(),
            );
            for password in ["", "correct horse", "ünïcödé ✓", &"x".repeat(200)] {
                let hashed = ours.run_now(|c| c.hash(password.as_bytes())).unwrap();
                let parsed = PasswordHash::new(&hashed).unwrap();
                assert!(
                    theirs.verify_password(password.as_bytes(), &parsed).is_ok(),
                    "RustCrypto verifies ours: m={m} t={t} p={p} {password:?}"
                );
                let reference = theirs
                    .hash_password(password.as_bytes())
                    .unwrap()
                    .to_string();
                assert_eq!(
                    ours.run_now(|c| c.verify(password.as_bytes(), &reference)),
                    Verdict::Match,
                    "ours verifies RustCrypto's: m={m} t={t} p={p} {password:?}"
                );
                assert_eq!(
                    ours.run_now(|c| c.verify(b"wrong", &reference)),
                    Verdict::Mismatch
                );
            }
        }
    }

    #[test]
    fn other_algorithms_versions_and_tag_lengths_verify() {
        let ours = engine(64, 1, 1);
        for (algorithm, version, len) in [
            (argon2::Algorithm::Argon2i, argon2::Version::V0x13, 32),
            (argon2::Algorithm::Argon2d, argon2::Version::V0x10, 32),
            (argon2::Algorithm::Argon2id, argon2::Version::V0x13, 16),
            (argon2::Algorithm::Argon2id, argon2::Version::V0x13, 64),
        ] {
            let theirs = argon2::Argon2::new(
                algorithm,
                version,
                argon2::Params::new(64, 1, 1, Some(len)).unwrap(),
            );
            let stored = theirs.hash_password(b"legacy").unwrap().to_string();
            assert_eq!(
                ours.run_now(|c| c.verify(b"legacy", &stored)),
                Verdict::MatchNeedsRehash,
                "{stored}"
            );
            assert_eq!(
                ours.run_now(|c| c.verify(b"other", &stored)),
                Verdict::Mismatch
            );
        }
    }

    #[test]
    fn a_hash_with_a_secret_or_garbage_never_matches() {
        let ours = engine(64, 1, 1);
        let peppered = argon2::Argon2::new_with_secret(
            b"pepper",
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, Some(32)).unwrap(),
        )
        .unwrap()
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        for stored in [
            peppered.as_str(),
            "",
            "$argon2id$v=19$m=64,t=1,p=1$",
            "$scrypt$ln=1$x$y",
        ] {
            assert_eq!(ours.run_now(|c| c.verify(b"pw", stored)), Verdict::Mismatch);
        }
    }
}
