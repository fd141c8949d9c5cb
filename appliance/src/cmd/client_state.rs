//! Chain state read through a running daemon: a `StateRead` whose every read is a proven
//! `QueryState`, so the typed readers of `keel_chain` (governance, accounts) work unchanged
//! against the daemon, and each value is checked against the root the daemon names.

use keel_chain::state_access::{ChainBase, Entries};
use keel_client::Client;
use keel_protocol::{Request, Response};
use keel_state::{StateError, StateRead};
use std::sync::Mutex;

/// A daemon's state, one proven query per read.
pub struct RemoteState {
    client: Mutex<Client>,
    endpoint: String,
}

impl RemoteState {
    pub fn new(client: Client, endpoint: &str) -> Self {
        RemoteState {
            client: Mutex::new(client),
            endpoint: endpoint.to_string(),
        }
    }

    fn failed(&self, why: impl std::fmt::Display) -> StateError {
        StateError::Io {
            path: self.endpoint.clone().into(),
            source: std::io::Error::other(why.to_string()),
        }
    }
}

impl StateRead for RemoteState {
    fn read(&self, key: &[u8]) -> keel_state::Result<Option<Vec<u8>>> {
        let mut c = self
            .client
            .lock()
            .map_err(|_| self.failed("client poisoned"))?;
        let request = Request::QueryState {
            key: key.to_vec(),
            with_proof: true,
        };
        let (value, proof) = match c.call(&request).map_err(|e| self.failed(e))? {
            Response::StateValue { value, proof } => (value, proof.unwrap_or_default()),
            _ => return Err(self.failed("unexpected answer to a state query")),
        };
        let p: serde_json::Value =
            serde_json::from_slice(&proof).map_err(|e| self.failed(format!("no proof: {e}")))?;
        let root: [u8; 32] = hex::decode(p["root"].as_str().unwrap_or_default())
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| self.failed("the proof names no root"))?;
        let proof = keel_state::StateProof::from_hex(p["proof"].as_str().unwrap_or_default())?;
        keel_state::verify_proof(keel_state::RootHash(root), key, value.as_deref(), &proof)?;
        Ok(value)
    }
}

impl ChainBase for RemoteState {
    /// Listing a prefix has no request on the wire; the readers used remotely never need it.
    fn scan_prefix(&self, _prefix: &[u8]) -> Result<Entries, StateError> {
        Err(self.failed("listing state by prefix is not served by the daemon"))
    }
}
