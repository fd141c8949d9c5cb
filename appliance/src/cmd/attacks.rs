//! The attackers of `keel bench serve --attack`: each works on the daemon over loopback until
//! told to stop, counting what it managed to do.

use super::bench_attack::{AttackConfig, signed};
use clap::ValueEnum;
use keel_chain::genesis::demo_key;
use keel_chain::{Address, CallData, SignedTx, TxKind, address_of, contract_address, encode};
use keel_client::{Client, Endpoint};
use keel_protocol::{FrameHeader, Request, RequestKind};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Demo key the daemon under test lists as a read-only client (the attackers that need one).
pub const READER: u32 = 4;
/// Demo key that deploys the contract the `simulate` attack runs.
const DEPLOYER: u32 = 5;
/// Requests an authenticated attacker keeps in flight.
const WINDOW: usize = 16;
/// Items per `BlsBatchVerify` (the daemon's default per-request cap).
const BLS_ITEMS: usize = 256;

/// `--attack` of `keel bench serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Attack {
    /// Read-only clients pipelining simulations of a long-running transaction.
    Simulate,
    /// Read-only clients pipelining `BlsBatchVerify` requests full of wrong signatures.
    Bls,
    /// Connections that never authenticate and only ping.
    Idle,
    /// Connections sending 16 MiB frames (unauthenticated, and as a read-only client).
    Bigframes,
}

impl Attack {
    pub fn name(self) -> &'static str {
        match self {
            Attack::Simulate => "simulate",
            Attack::Bls => "bls",
            Attack::Idle => "idle",
            Attack::Bigframes => "bigframes",
        }
    }

    /// Starts the attacker threads; they stop when `stop` is set.
    pub fn launch(
        self,
        endpoint: &Endpoint,
        setup: &AttackSetup,
        stop: &Arc<AtomicBool>,
        actions: &Arc<AtomicU64>,
    ) -> Vec<JoinHandle<()>> {
        let Endpoint::Tcp(addr) = endpoint.clone() else {
            return Vec::new();
        };
        let ctx = Ctx {
            endpoint: endpoint.clone(),
            addr,
            stop: stop.clone(),
            actions: actions.clone(),
        };
        match self {
            Attack::Idle => {
                let (ctx, n) = (ctx.clone(), setup.attackers);
                vec![std::thread::spawn(move || idle(&ctx, n))]
            }
            Attack::Bigframes => (0..setup.attackers.min(64))
                .map(|i| {
                    let ctx = ctx.clone();
                    std::thread::spawn(move || big_frames(&ctx, i % 2 == 1))
                })
                .collect(),
            Attack::Simulate | Attack::Bls => {
                let request = Arc::new(setup.request(self));
                (0..setup.attackers.min(8))
                    .map(|_| {
                        let (ctx, request) = (ctx.clone(), request.clone());
                        std::thread::spawn(move || pipeline(&ctx, &request))
                    })
                    .collect()
            }
        }
    }
}

/// What the attacks need from the chain, prepared before the quiet phase.
pub struct AttackSetup {
    attackers: usize,
    sim_compute: u64,
    /// The deployed `fib` contract (the `simulate` attack).
    fib: Option<Address>,
}

impl AttackSetup {
    /// Deploys what the attack needs through `commit` (a block submitted by the validator).
    pub fn prepare(
        cfg: &AttackConfig,
        commit: &mut dyn FnMut(Vec<SignedTx>) -> anyhow::Result<()>,
    ) -> anyhow::Result<AttackSetup> {
        let fib = if cfg.attack == Attack::Simulate {
            let deploy = TxKind::Deploy {
                code: keel_contracts::FIB.wasm.to_vec(),
                constructor: None,
            };
            commit(vec![signed(DEPLOYER, 0, deploy, 20_000_000)])?;
            let deployer = address_of(&demo_key(DEPLOYER).public_key().to_bytes());
            Some(contract_address(&deployer, 0))
        } else {
            None
        };
        Ok(AttackSetup {
            attackers: cfg.attackers,
            sim_compute: cfg.sim_compute,
            fib,
        })
    }

    fn request(&self, attack: Attack) -> Request {
        match (attack, self.fib) {
            (Attack::Simulate, Some(contract)) => {
                // fib(u32::MAX) never finishes: it runs until its compute limit.
                let call = TxKind::Call {
                    contract,
                    call: CallData {
                        entry: "fib".into(),
                        args: u32::MAX.to_le_bytes().to_vec(),
                    },
                    value: keel_chain::Amount::from_u128(0),
                };
                Request::SimulateTx {
                    tx: encode(&signed(DEPLOYER, 1, call, self.sim_compute)),
                }
            }
            _ => Request::BlsBatchVerify {
                items: wrong_signatures(),
            },
        }
    }
}

/// Well-formed items whose signatures are over another message.
fn wrong_signatures() -> Vec<keel_protocol::BlsItem> {
    (0..BLS_ITEMS)
        .map(|i| {
            let mut seed = [9u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let sk = keel_crypto::SecretKey::from_seed(&seed).unwrap_or_else(|_| demo_key(0));
            let msg = format!("attack {i}").into_bytes();
            (
                sk.public_key().to_bytes(),
                msg,
                sk.sign(b"something else").to_bytes(),
            )
        })
        .collect()
}

#[derive(Clone)]
struct Ctx {
    endpoint: Endpoint,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    actions: Arc<AtomicU64>,
}

impl Ctx {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn count(&self) {
        self.actions.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection authenticated as the read-only client.
    fn reader(&self) -> Option<Client> {
        let mut c = Client::connect(&self.endpoint).ok()?;
        c.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        c.handshake(&demo_key(READER), None).ok()?;
        Some(c)
    }
}

/// `n` connections that never authenticate, each pinging every 250 ms.
fn idle(ctx: &Ctx, n: usize) {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        if ctx.stopped() {
            return;
        }
        if let Ok(s) = TcpStream::connect(ctx.addr) {
            let _ = s.set_nonblocking(true);
            conns.push(s);
            ctx.count();
        }
    }
    let mut ping = Vec::new();
    let _ = Request::Ping { payload: vec![0] }.encode(1, &mut ping);
    let mut sink = [0u8; 256];
    while !ctx.stopped() {
        for s in &mut conns {
            let _ = s.write_all(&ping);
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Sends 16 MiB frames over and over, authenticated as the reader or not at all.
fn big_frames(ctx: &Ctx, authenticated: bool) {
    const BODY: usize = 16 * 1024 * 1024 - 64;
    let chunk = vec![0u8; 64 * 1024];
    while !ctx.stopped() {
        if authenticated {
            if let Some(mut c) = ctx.reader() {
                // The whole frame is buffered by the server before it can decode it.
                let _ = c.send(&Request::SimulateTx { tx: vec![0; BODY] });
                let _ = c.recv();
                ctx.count();
            }
        } else if let Ok(mut s) = TcpStream::connect(ctx.addr) {
            let header = FrameHeader {
                kind: RequestKind::SimulateTx as u8,
                request_id: 1,
                body_len: BODY as u32,
            };
            let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
            if s.write_all(&header.to_bytes()).is_ok() {
                let mut sent = 0;
                while sent < BODY && !ctx.stopped() && s.write_all(&chunk).is_ok() {
                    sent += chunk.len();
                }
                ctx.count();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Keeps `WINDOW` copies of `request` in flight as the read-only client.
fn pipeline(ctx: &Ctx, request: &Request) {
    while !ctx.stopped() {
        let Some(mut c) = ctx.reader() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let mut in_flight = 0;
        while !ctx.stopped() {
            while in_flight < WINDOW {
                if c.send(request).is_err() {
                    break;
                }
                in_flight += 1;
                ctx.count();
            }
            match c.recv() {
                Ok(_) => in_flight -= 1,
                Err(keel_client::ClientError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    }
}
