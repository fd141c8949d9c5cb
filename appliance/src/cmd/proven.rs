//! A state value with its Merkle proof, already verified against the root it names: what
//! `keel state proof` (local) and `keel client query` (through the daemon) print, in one shape.
//! Exit code 3 ([`super::exit::ABSENT`]) when the key holds nothing (the exclusion proof is
//! still printed).

use super::exit;
use serde_json::json;
use std::process::ExitCode;

/// A state value the daemon sent with its proof, verified here against the root it named.
pub struct Proven {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub root: [u8; 32],
    pub height: u64,
    pub proof_hex: String,
}

impl Proven {
    /// The same shape as `keel state proof --json`: the fields `keel state verify` takes.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "height": self.height,
            "root": hex::encode(self.root),
            "key": hex::encode(&self.key),
            "value": self.value.as_ref().map(hex::encode),
            "proof": self.proof_hex,
            "verified": true,
        })
    }

    pub fn print(&self, as_json: bool) {
        if as_json {
            println!("{}", self.to_json());
            return;
        }
        println!(
            "height {}\nroot {}\nkey 0x{}",
            self.height,
            hex::encode(self.root),
            hex::encode(&self.key)
        );
        match &self.value {
            Some(v) => println!("value 0x{} (inclusion proof)", hex::encode(v)),
            None => println!("absent (exclusion proof)"),
        }
        println!("proof {}\nverified: yes", self.proof_hex);
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.value {
            Some(_) => ExitCode::SUCCESS,
            None => ExitCode::from(exit::ABSENT),
        }
    }
}
