//! Who may do what: the allowlist, the read-only opening, and the handshake proof check.

use std::collections::BTreeSet;

use keel_crypto::{PublicKey, Signature, verify};
use keel_protocol::{ErrorCode, RequestKind, auth_message};

use crate::config::ServerConfig;
use crate::error::ServerError;

/// The access policy, built once from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct AuthPolicy {
    pub(crate) server_id: [u8; 32],
    writers: BTreeSet<[u8; 48]>,
    readers: BTreeSet<[u8; 48]>,
    open_reads: bool,
}

impl AuthPolicy {
    pub(crate) fn from_config(config: &ServerConfig) -> Result<AuthPolicy, ServerError> {
        let server_id = match &config.server_id {
            Some(text) => parse_hex::<32>(text, "server_id")?,
            None => {
                let id: [u8; 32] = rand::random();
                tracing::info!(server_id = %hex::encode(id), "no server_id configured; drew a random one");
                id
            }
        };
        Ok(AuthPolicy {
            server_id,
            writers: parse_keys(&config.allowlist, "allowlist")?,
            readers: parse_keys(&config.readers, "readers")?,
            open_reads: config.open_reads,
        })
    }

    /// The access a proven key gets: `Some(read_only)` or `None` if it is refused.
    pub(crate) fn access(&self, key: &[u8; 48]) -> Option<bool> {
        if self.writers.contains(key) {
            Some(false)
        } else if self.readers.contains(key) || self.open_reads {
            Some(true)
        } else {
            None
        }
    }

    /// Whether a request of `kind` may run on a connection whose authentication is `auth`
    /// (`Some(read_only)` once authenticated).
    pub(crate) fn permit(&self, kind: RequestKind, auth: Option<bool>) -> Result<(), ErrorCode> {
        match (kind.is_mutating(), auth) {
            (true, Some(false)) => Ok(()),
            (true, Some(true)) => Err(ErrorCode::Forbidden),
            (true, None) => Err(ErrorCode::NotAuthenticated),
            (false, Some(_)) => Ok(()),
            (false, None) if self.open_reads => Ok(()),
            (false, None) => Err(ErrorCode::NotAuthenticated),
        }
    }
}

/// Checks a handshake proof: the key decodes (on the curve, in the subgroup) and the signature
/// over `auth_message(nonce, server_id)` verifies. Costs a pairing: run it on a worker thread.
pub(crate) fn verify_proof(
    key: &[u8; 48],
    nonce: &[u8; 32],
    server_id: &[u8; 32],
    sig: &[u8; 96],
) -> bool {
    let (Ok(pk), Ok(sig)) = (PublicKey::from_bytes(key), Signature::from_bytes(sig)) else {
        return false;
    };
    verify(&pk, &auth_message(nonce, server_id), &sig)
}

fn parse_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], ServerError> {
    let bytes = hex::decode(text.trim())
        .map_err(|e| ServerError::Config(format!("{what}: {text:?} is not hex: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| ServerError::Config(format!("{what}: {text:?} is not {N} bytes")))
}

fn parse_keys(keys: &[String], what: &str) -> Result<BTreeSet<[u8; 48]>, ServerError> {
    keys.iter()
        .map(|k| {
            let bytes = parse_hex::<48>(k, what)?;
            PublicKey::from_bytes(&bytes)
                .map_err(|e| ServerError::Config(format!("{what}: {k}: {e}")))?;
            Ok(bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_crypto::SecretKey;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed(&[seed; 32]).unwrap()
    }

    fn policy(open_reads: bool) -> AuthPolicy {
        let config = ServerConfig {
            allowlist: vec![hex::encode(key(1).public_key().to_bytes())],
            readers: vec![hex::encode(key(2).public_key().to_bytes())],
            open_reads,
            server_id: Some(hex::encode([9u8; 32])),
            ..ServerConfig::default()
        };
        AuthPolicy::from_config(&config).unwrap()
    }

    #[test]
    fn allowlisted_keys_write_readers_read_and_strangers_are_refused() {
        let p = policy(false);
        assert_eq!(p.access(&key(1).public_key().to_bytes()), Some(false));
        assert_eq!(p.access(&key(2).public_key().to_bytes()), Some(true));
        assert_eq!(p.access(&key(3).public_key().to_bytes()), None);
        assert_eq!(
            policy(true).access(&key(3).public_key().to_bytes()),
            Some(true)
        );
    }

    #[test]
    fn mutating_requests_need_a_writable_key_and_reads_need_auth_unless_open() {
        let p = policy(false);
        assert_eq!(p.permit(RequestKind::SubmitBlock, Some(false)), Ok(()));
        assert_eq!(
            p.permit(RequestKind::SubmitBlock, Some(true)),
            Err(ErrorCode::Forbidden)
        );
        assert_eq!(
            p.permit(RequestKind::Deploy, None),
            Err(ErrorCode::NotAuthenticated)
        );
        assert_eq!(
            p.permit(RequestKind::Status, None),
            Err(ErrorCode::NotAuthenticated)
        );
        assert_eq!(policy(true).permit(RequestKind::QueryState, None), Ok(()));
        assert_eq!(
            policy(true).permit(RequestKind::ExecuteBlock, None),
            Err(ErrorCode::NotAuthenticated)
        );
    }

    #[test]
    fn a_proof_verifies_only_for_its_nonce_and_server() {
        let sk = key(1);
        let pk = sk.public_key().to_bytes();
        let sig = sk.sign(&auth_message(&[1; 32], &[2; 32])).to_bytes();
        assert!(verify_proof(&pk, &[1; 32], &[2; 32], &sig));
        assert!(!verify_proof(&pk, &[0; 32], &[2; 32], &sig));
        assert!(!verify_proof(&pk, &[1; 32], &[3; 32], &sig));
        assert!(!verify_proof(&[0; 48], &[1; 32], &[2; 32], &sig));
    }

    #[test]
    fn malformed_keys_in_the_config_are_reported() {
        let c = ServerConfig {
            allowlist: vec!["zz".into()],
            ..ServerConfig::default()
        };
        assert!(AuthPolicy::from_config(&c).is_err());
        let c = ServerConfig {
            allowlist: vec![hex::encode([0u8; 48])],
            ..ServerConfig::default()
        };
        assert!(AuthPolicy::from_config(&c).is_err());
    }
}
