//! `keel.toml`: the daemon's configuration. Every field has a default (the embedded default is
//! an empty file), and unknown fields are refused so a typo never goes unnoticed. The
//! documented sample is `appliance/keel.toml`; its comments are also the comments of
//! `keel serve --print-config`, and a test keeps it in step with these types.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

/// The documented sample configuration (every key, its default and what it does).
pub const SAMPLE: &str = include_str!("../../keel.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Data directory (state database, keystore, lock file, socket). Default `./keel-data`.
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
    /// client may ask for, summed over its transactions' limits. Default 15 000 000: at most
    /// 0.25 s of execution at the slowest rate `keel bench vm` measures on the reference
    /// machine (62 M gas/s), a quarter of a block's 1 s budget (60 000 000 on the demo chain).
    /// Writers get the block's limit.
    pub simulate_compute_limit: u64,
    /// Threads of the parallel (Block-STM) executor; 0, the default, runs blocks on the
    /// sequential reference executor. Node-local: results are identical either way.
    pub exec_threads: usize,
    /// The mempool behind `SubmitTx` and `BuildBlock`.
    pub mempool: MempoolConfig,
    /// The network server (listeners, limits, authentication, metrics); see keel-server's
    /// `ServerConfig` for every knob. The Unix socket defaults to `<data_dir>/keel.sock`
    /// (`false` disables it), and with a keystore the allowlist defaults to the demo validators.
    pub server: keel_server::ServerConfig,
    /// Kernel programs (admission, rate limiting, observability); see keel-kernel-progs. The
    /// admission port defaults to the TCP port, the admission allowlist (empty) to loopback.
    pub kernel: keel_kernel_progs::KernelConfig,
    /// Whether `server.unix_socket` was given (a path or `false`); if not, it is
    /// `<data_dir>/keel.sock`.
    #[serde(skip)]
    unix_socket_given: bool,
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
            simulate_compute_limit: 15_000_000,
            exec_threads: 0,
            mempool: MempoolConfig::default(),
            server: keel_server::ServerConfig {
                unix_socket: None,
                ..keel_server::ServerConfig::default()
            },
            kernel: keel_kernel_progs::KernelConfig::default(),
            unix_socket_given: false,
        }
    }
}

/// `[mempool]`: the bounds of the daemon's mempool and the rate of `SubmitTx` per client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most transactions pending. Default 50 000.
    pub max_txs: usize,
    /// Most bytes of pending signed transactions. Default 134 217 728 (128 MiB).
    pub max_bytes: usize,
    /// Most transactions one sender may have pending. Default 64.
    pub max_per_sender: usize,
    /// How far above the account's next nonce a transaction may be. Default 64.
    pub max_nonce_gap: u64,
    /// Least raise of the priority fee, in percent, that replaces a pending transaction with
    /// the same sender and nonce. Default 10.
    pub min_bump_percent: u64,
    /// Seconds a transaction stays pending before it expires. Default 600.
    pub ttl_secs: u64,
    /// `SubmitTx` transactions per second one client that is not an allowlisted writer (by
    /// key, else by address) may submit; more get `Overloaded`. 0 = no limit. Default 1 000.
    pub submit_rate: u64,
    /// Signature verdicts kept for pending transactions (a block built from the pool is not
    /// verified again). Default 100 000.
    pub verdict_cache: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        let pool = keel_mempool::PoolConfig::default();
        MempoolConfig {
            max_txs: pool.max_txs,
            max_bytes: pool.max_bytes,
            max_per_sender: pool.max_per_sender,
            max_nonce_gap: pool.max_nonce_gap,
            min_bump_percent: pool.min_bump_percent,
            ttl_secs: pool.ttl_ms / 1000,
            submit_rate: 1_000,
            verdict_cache: 100_000,
        }
    }
}

impl MempoolConfig {
    /// The pool's limits.
    pub fn pool(&self) -> keel_mempool::PoolConfig {
        keel_mempool::PoolConfig {
            max_txs: self.max_txs,
            max_bytes: self.max_bytes,
            max_tx_bytes: keel_mempool::PoolConfig::default().max_tx_bytes,
            max_per_sender: self.max_per_sender,
            max_nonce_gap: self.max_nonce_gap,
            min_bump_percent: self.min_bump_percent,
            ttl_ms: self.ttl_secs.saturating_mul(1000),
        }
    }
}

impl DaemonConfig {
    /// Reads a `keel.toml` (syntax and types only; [`validate`](Self::validate) checks values).
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let mut cfg: DaemonConfig = toml::from_str(text)?;
        let table: toml::Table = toml::from_str(text)?;
        cfg.unix_socket_given = table
            .get("server")
            .and_then(|s| s.get("unix_socket"))
            .is_some();
        Ok(cfg)
    }

    /// Fills the defaults that depend on other values: the Unix socket in the data directory,
    /// the admission port from the TCP address, the admission allowlist to loopback.
    pub fn resolve_defaults(&mut self) {
        if !self.unix_socket_given {
            self.server.unix_socket = Some(self.data_dir.join("keel.sock"));
            self.unix_socket_given = true;
        }
        let admission = &mut self.kernel.admission;
        if admission.port == 0 {
            admission.port = self
                .server
                .tcp
                .as_deref()
                .and_then(|t| t.parse::<std::net::SocketAddr>().ok())
                .map_or(0, |a| a.port());
        }
        if admission.allowlist.is_empty() {
            admission.allowlist = ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect();
        }
    }

    /// Checks every value, before anything is created or bound.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.server.validate().context("[server]")?;
        self.routine_engine()?;
        if self.exec_threads > keel_chain::parallel::MAX_THREADS {
            bail!(
                "exec_threads is at most {} (0 = sequential)",
                keel_chain::parallel::MAX_THREADS
            );
        }
        if self.verify_max_batch == 0 {
            bail!("verify_max_batch must be positive");
        }
        let m = &self.mempool;
        if m.max_txs == 0 || m.max_bytes == 0 || m.max_per_sender == 0 || m.ttl_secs == 0 {
            bail!("[mempool] max_txs, max_bytes, max_per_sender and ttl_secs must be positive");
        }
        if self.demo_genesis && self.demo_accounts < keel_chain::genesis::DEMO_VALIDATORS {
            bail!(
                "demo_accounts must be at least {} (the demo validators)",
                keel_chain::genesis::DEMO_VALIDATORS
            );
        }
        if self.kernel.enabled && self.server.tcp.is_some() {
            let mut admission = self.kernel.admission.clone();
            // Port 0 (an ephemeral TCP port) is filled in once the port is bound.
            admission.port = admission.port.max(1);
            admission.validate().context("[kernel.admission]")?;
        }
        Ok(())
    }

    /// The routine engine contracts use (`jit` or `interp`; `kernel` is for cross-checks).
    pub fn routine_engine(&self) -> anyhow::Result<keel_ebpf_bridge::Engine> {
        let engine: keel_ebpf_bridge::Engine = self
            .bridge_engine
            .parse()
            .map_err(|e| anyhow::anyhow!("bridge_engine: {e}"))?;
        if engine == keel_ebpf_bridge::Engine::Kernel {
            bail!(
                "bridge_engine: contracts run routines on `interpreter` or `jit`; `kernel` is for cross-checks"
            );
        }
        Ok(engine)
    }

    /// The configuration as a `keel.toml`, each key under its comment from [`SAMPLE`].
    pub fn to_commented_toml(&self) -> anyhow::Result<String> {
        let docs = sample_docs();
        let body = toml::to_string(self).context("cannot render the configuration")?;
        let mut out = String::from(
            "# The effective configuration of `keel serve` (file, defaults and flags combined).\n",
        );
        let mut table = String::new();
        for line in body.lines() {
            let key = match table_header(line) {
                Some(t) => {
                    table = t.to_string();
                    out.push('\n');
                    t.to_string()
                }
                None => match key_of(line) {
                    Some(k) => dotted(&table, k),
                    None => String::new(),
                },
            };
            if let Some(doc) = docs.get(&key) {
                out.push_str(doc);
            }
            if !line.is_empty() {
                out.push_str(line);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// The comment block above each key and table of the sample, by dotted name.
fn sample_docs() -> HashMap<String, String> {
    let mut docs = HashMap::new();
    let (mut table, mut pending) = (String::new(), String::new());
    for line in SAMPLE.lines() {
        let setting = line.trim_start_matches('#').trim_start();
        if let Some(t) = table_header(setting) {
            table = t.to_string();
            docs.insert(table.clone(), std::mem::take(&mut pending));
        } else if let Some(k) = key_of(setting) {
            docs.insert(dotted(&table, k), std::mem::take(&mut pending));
        } else if line.starts_with('#') {
            pending.push_str(line);
            pending.push('\n');
        } else {
            pending.clear();
        }
    }
    docs
}

fn table_header(line: &str) -> Option<&str> {
    line.strip_prefix('[')?.strip_suffix(']')
}

/// The key of a `key = value` line (a bare key: letters, digits, `_`).
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once(" = ")?;
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(key)
}

fn dotted(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effective(text: &str) -> DaemonConfig {
        let mut c = DaemonConfig::from_toml(text).unwrap();
        c.resolve_defaults();
        c
    }

    #[test]
    fn the_sample_is_the_default_configuration() {
        assert_eq!(effective(SAMPLE), effective(""));
    }

    #[test]
    fn every_key_is_documented_in_the_sample() {
        let mut c = effective("");
        c.server.server_id = Some("00".repeat(32));
        c.kernel.admission.interface = Some("eth0".into());
        c.kernel.admission.cgroup = Some("/sys/fs/cgroup".into());
        c.kernel.admission.rate_limit = Some(keel_kernel_progs::RateLimit {
            packets_per_second: 1,
            burst: 1,
        });
        c.kernel.observe.tgid = Some(0);
        let docs = sample_docs();
        let mut table = String::new();
        for line in toml::to_string(&c).unwrap().lines() {
            let key = match table_header(line) {
                Some(t) => {
                    table = t.to_string();
                    t.to_string()
                }
                None => match key_of(line) {
                    Some(k) => dotted(&table, k),
                    None => continue,
                },
            };
            assert!(
                docs.get(&key).is_some_and(|d| !d.is_empty()),
                "{key} is not documented in appliance/keel.toml"
            );
        }
    }

    #[test]
    fn print_config_round_trips_with_comments() {
        let c = effective("data_dir = \"/srv/keel\"\n[server]\ntcp = false\n");
        let text = c.to_commented_toml().unwrap();
        assert!(text.contains("# TCP listen address"), "{text}");
        assert!(text.contains("tcp = false"), "{text}");
        assert!(
            text.contains("unix_socket = \"/srv/keel/keel.sock\""),
            "{text}"
        );
        assert_eq!(effective(&text), c);
    }

    #[test]
    fn a_server_table_keeps_the_socket_in_the_data_dir_and_can_turn_it_off() {
        let c = effective("data_dir = \"d\"\n[server]\nmax_in_flight = 8\n");
        assert_eq!(c.server.unix_socket, Some(PathBuf::from("d/keel.sock")));
        let c = effective("[server]\nunix_socket = false\n");
        assert_eq!(c.server.unix_socket, None);
        let c = effective("[server]\nunix_socket = \"/run/k.sock\"\n");
        assert_eq!(c.server.unix_socket, Some(PathBuf::from("/run/k.sock")));
    }

    #[test]
    fn invalid_values_are_reported_by_validate() {
        for text in [
            "[server]\nidle_timeout_ms = 0",
            "[server]\ntcp = false\nunix_socket = false",
            "bridge_engine = \"kernel\"",
            "bridge_engine = \"fast\"",
            "demo_accounts = 1",
            "[kernel.admission.rate_limit]\npackets_per_second = 0\nburst = 1",
        ] {
            assert!(effective(text).validate().is_err(), "{text} was accepted");
        }
        effective("").validate().unwrap();
    }

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
