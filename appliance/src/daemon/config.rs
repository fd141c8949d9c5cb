//! `keel.toml`: the daemon's configuration. Every field has a default (the embedded default is
//! an empty file), and unknown fields are refused so a typo never goes unnoticed.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Data directory (state database, keystore, socket). Default `./keel-data`.
    pub data_dir: PathBuf,
    /// Create a demo chain (funded demo accounts, keystore) when the data directory is empty.
    /// Default true.
    pub demo_genesis: bool,
    /// Demo accounts created with the demo genesis. Default 8.
    pub demo_accounts: u32,
    /// Engine for native routines: `jit` (default) or `interp`. A node-local choice that never
    /// changes a result: both give identical outputs and gas, and where the JIT is unavailable
    /// (not x86-64, compilation failed) routines fall back to the interpreter.
    pub bridge_engine: String,
    /// Batching of `BlsBatchVerify` requests (the client lane; a block is always a batch of its
    /// own): most signatures per batch (default 4096) and longest wait for a batch to fill, in
    /// milliseconds (default 2).
    pub verify_max_batch: usize,
    pub verify_max_delay_ms: u64,
    /// A BLS plug-in (`offload/include/keel_offload.h`) to verify signatures with instead of
    /// the CPU pool, run in its own process. Default none. Refused unless `bls_plugin_report`
    /// is a report of `keel hwtest run --plugin` signed with this appliance's hwtest key
    /// (`<data_dir>/hwtest.key`) in which a file with this plug-in's SHA-256 passed.
    pub bls_plugin: Option<PathBuf>,
    /// The qualification report (`report.json`) for `bls_plugin`.
    pub bls_plugin_report: Option<PathBuf>,
    /// Most items one `BlsBatchVerify` request may carry (at most the protocol's 1 024).
    /// Default 256: a larger request is split by the client, so one client's batch cannot hold
    /// the client lane for long.
    pub verify_max_items: usize,
    /// `BlsBatchVerify` signatures one client (by key, else by address) may have verified per
    /// second; more get `Overloaded`. 0 = no limit. Default 8 192.
    pub verify_rate: u64,
    /// Most compute gas a simulation (`SimulateTx`, `ExecuteBlock` dry run) from a read-only
    /// client may ask for, summed over its transactions' limits. Default 100 000 000: about
    /// 0.6–2.3 s of execution at the 43–175 M gas/s `keel bench vm` measures on the reference
    /// machine, far below a block's 4 000 000 000. Writers get the block's limit.
    pub simulate_compute_limit: u64,
    /// The network server (listeners, limits, authentication, metrics); see keel-server's
    /// `ServerConfig` for every knob. The Unix socket defaults to `<data_dir>/keel.sock`, and
    /// with a demo genesis the allowlist defaults to demo validator 0.
    pub server: keel_server::ServerConfig,
    /// Kernel programs (admission, rate limiting, observability); see keel-kernel-progs. The
    /// admission port defaults to the TCP port, the allowlist to loopback.
    pub kernel: keel_kernel_progs::KernelConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            data_dir: PathBuf::from(keel_chain::DEFAULT_DATA_DIR),
            demo_genesis: true,
            demo_accounts: 8,
            bridge_engine: "jit".into(),
            verify_max_batch: 4096,
            verify_max_delay_ms: 2,
            bls_plugin: None,
            bls_plugin_report: None,
            verify_max_items: 256,
            verify_rate: 8_192,
            simulate_compute_limit: 100_000_000,
            server: keel_server::ServerConfig {
                unix_socket: None,
                ..keel_server::ServerConfig::default()
            },
            kernel: keel_kernel_progs::KernelConfig::default(),
        }
    }
}

impl DaemonConfig {
    /// Reads a `keel.toml`.
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_keel_toml_is_valid_and_keeps_everything_under_var_lib_keel() {
        let cfg = DaemonConfig::from_toml(include_str!("../../debian/keel.toml"))
            .expect("/etc/keel/keel.toml of the package parses");
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/keel"));
        // The unit may write only there (ReadWritePaths=), so the socket must live there too.
        assert_eq!(
            cfg.server.unix_socket,
            Some(PathBuf::from("/var/lib/keel/keel.sock"))
        );
        assert_eq!(
            cfg.kernel.pin_dir,
            Some(PathBuf::from(keel_kernel_progs::DEFAULT_PIN_DIR))
        );
    }
}
