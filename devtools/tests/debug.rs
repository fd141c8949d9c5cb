//! The replay debugger end to end: a scaffolded counter deployed and called on a real chain,
//! then its call replayed under the debugger (trace, breakpoints, console, DAP).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::genesis::{demo, demo_key};
use keel_chain::{
    Amount, Block, CallData, Chain, ChainConfig, SignedTx, Transaction, TxKind, TxStatus,
    address_of, contract_address,
};
use keel_crypto::{SignatureVerifier, SingleVerifier};
use keel_devtools::debug::console::Console;
use keel_devtools::debug::replay::{Which, launch, replay_recorded};
use keel_devtools::debug::trace::{Event, Storage};
use keel_devtools::debug::{Breakpoint, Session, SessionConfig};
use keel_devtools::project::Project;
use keel_devtools::scaffold::new_project;
use keel_devtools::toolchain::build;
use keel_vm::{GasSchedule, Profile};
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A chain in `dir/chain` with the scaffolded counter deployed in block 1 and block 2 calling
/// `add(5)`, `increment()` and `add` with a bad input (which traps).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub side: Vec<u8>,
    pub source: PathBuf,
}

impl Fixture {
    pub fn chain_dir(&self) -> PathBuf {
        self.dir.path().join("chain")
    }

    /// The line of the counter's source holding `needle`.
    pub fn line_of(&self, needle: &str) -> u64 {
        let text = std::fs::read_to_string(&self.source).unwrap();
        let i = text.lines().position(|l| l.contains(needle)).unwrap();
        i as u64 + 1
    }
}

fn sign(nonce: u64, kind: TxKind) -> SignedTx {
    let key = demo_key(0);
    Transaction {
        chain_id: ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [50_000_000, 100_000, 64, 100_000],
        max_fee_per_unit: [1_000; 4],
        priority_fee: 1,
        kind,
    }
    .sign(&key)
}

fn call(nonce: u64, contract: [u8; 32], entry: &str, args: Vec<u8>) -> SignedTx {
    sign(
        nonce,
        TxKind::Call {
            contract,
            call: CallData {
                entry: entry.into(),
                args,
            },
            value: Amount::ZERO,
        },
    )
}

/// Lets `chain` sign the VRF proofs of the demo validators' blocks.
fn add_proposer_keys(chain: &mut Chain) {
    for key in keel_chain::genesis::demo_validator_keys() {
        chain.add_proposer_key(key);
    }
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = new_project(dir.path(), "counter").unwrap();
    let built = build(
        &Project::load(&path).unwrap(),
        false,
        &Profile::default(),
        &GasSchedule::default(),
    )
    .unwrap();
    let genesis = demo(1, Amount::from_u128(10u128.pow(30))).unwrap();
    let mut chain =
        Chain::init(dir.path().join("chain"), &genesis, Box::new(SingleVerifier)).unwrap();
    add_proposer_keys(&mut chain);
    let deploy = sign(
        0,
        TxKind::Deploy {
            code: built.wasm.clone(),
            constructor: None,
        },
    );
    let header = chain.next_local_header().unwrap();
    let r = chain
        .execute_block(&Block {
            header,
            txs: vec![deploy],
        })
        .unwrap();
    assert!(
        matches!(r.receipts[0].status, TxStatus::Success { .. }),
        "{r:?}"
    );
    let me = address_of(&demo_key(0).public_key().to_bytes());
    let counter = contract_address(&me, 0);
    let header = chain.next_local_header().unwrap();
    let txs = vec![
        call(1, counter, "add", 5u64.to_le_bytes().to_vec()),
        call(2, counter, "increment", Vec::new()),
        call(3, counter, "add", vec![1, 2, 3]),
    ];
    chain.execute_block(&Block { header, txs }).unwrap();
    Fixture {
        side: built.debug,
        source: path.join("src/counter.c"),
        dir,
    }
}

fn verifier() -> Box<dyn SignatureVerifier> {
    Box::new(SingleVerifier)
}

fn replay_json(f: &Fixture, tx: usize) -> (String, keel_devtools::debug::replay::Replayed) {
    let session = Session::new(SessionConfig {
        side_files: vec![f.side.clone()],
        ..SessionConfig::default()
    });
    let recorded = Chain::open(f.chain_dir(), verifier()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let r = replay_recorded(&recorded, 2, tx, scratch.path(), &verifier, &session).unwrap();
    (serde_json::to_string(&session.trace()).unwrap(), r)
}

#[test]
fn a_replayed_transaction_reproduces_its_receipt_and_its_trace_is_byte_identical() {
    let f = fixture();
    for tx in 0..3 {
        let (a, ra) = replay_json(&f, tx);
        let (b, rb) = replay_json(&f, tx);
        assert_eq!(a, b, "trace of tx {tx} differs between runs");
        assert_eq!(ra.matches_record(), Some(true), "tx {tx}: {ra:?}");
        assert_eq!(rb.receipt, ra.receipt);
    }
    // Tx 1 (increment after add(5)): reads 5, writes 6, returns 6, with source lines.
    let session = Session::new(SessionConfig {
        side_files: vec![f.side.clone()],
        ..SessionConfig::default()
    });
    let recorded = Chain::open(f.chain_dir(), verifier()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    replay_recorded(&recorded, 2, 1, scratch.path(), &verifier, &session).unwrap();
    drop(recorded);
    let trace = session.trace();
    let key = hex::encode("count");
    let five = hex::encode(5u64.to_le_bytes());
    let six = hex::encode(6u64.to_le_bytes());
    let storage: Vec<&Storage> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Host {
                storage: Some(s), ..
            } => Some(s),
            _ => None,
        })
        .collect();
    assert!(storage.contains(&&Storage::Read {
        key: key.clone(),
        value: Some(five)
    }));
    assert!(storage.contains(&&Storage::Write {
        key: key.clone(),
        value: six.clone()
    }));
    assert!(
        matches!(&trace.events[0], Event::Frame { depth: 0, entry, .. } if entry == "increment")
    );
    match trace.events.last().unwrap() {
        Event::End {
            returned, writes, ..
        } => {
            assert_eq!(returned.as_deref(), Some(six.as_str()));
            assert_eq!(writes, &vec![(key, Some(six))]);
        }
        e => panic!("last event {e:?}"),
    }
    let lines: Vec<&String> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Block { line: Some(l), .. } => Some(l),
            _ => None,
        })
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("src/counter.c:")),
        "blocks carry DWARF lines: {:?}",
        trace.events
    );
    // Tx 2 traps in the contract: the trace ends with the trap.
    let (json, r) = replay_json(&f, 2);
    assert!(matches!(r.receipt.status, TxStatus::Failed { .. }));
    assert!(json.contains("\"trap\""), "{json}");
}

/// A console driven from a script, its output captured.
fn console(script: &str) -> (Console, Arc<Mutex<Vec<u8>>>) {
    #[derive(Clone)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    let c = Console::new(
        Box::new(Cursor::new(script.as_bytes().to_vec())),
        Box::new(Shared(Arc::clone(&out))),
    );
    (c, out)
}

#[test]
fn the_console_stops_at_a_source_line_shows_locals_and_memory_and_steps() {
    let f = fixture();
    let line = f.line_of("keel_storage_write");
    let (c, out) = console("locals\nbt\nx 0 4\nn\ngas\nc\n");
    let session = Session::new(SessionConfig {
        side_files: vec![f.side.clone()],
        breakpoints: vec![Breakpoint::Line {
            file: "counter.c".into(),
            line,
        }],
        frontend: Some(Box::new(c)),
        ..SessionConfig::default()
    });
    let r = launch(
        &f.chain_dir(),
        &Which::Recorded { block: 2, tx: 1 },
        &session,
    )
    .unwrap();
    assert_eq!(r.matches_record(), Some(true), "stopping changes nothing");
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "stopped (Breakpoint) at src/counter.c:{line} in counter_add"
        )),
        "{text}"
    );
    // counter_add(uint64_t n): its parameter is the first local (clang may reuse it).
    assert!(text.contains("  arg0 : i64 = "), "{text}");
    assert!(text.contains("#1 increment at"), "{text}");
    assert!(text.contains("  0x0: "), "{text}");
    assert!(text.contains("stopped (Step) at"), "{text}");
    assert!(text.contains("gas left"), "{text}");
    assert!(text.trim_end().ends_with("run finished"), "{text}");
}

#[test]
fn quitting_the_console_ends_the_run_as_a_debugger_stop_not_a_node_result() {
    let f = fixture();
    let (c, _) = console("q\n");
    let session = Session::new(SessionConfig {
        breakpoints: vec![Breakpoint::Func("increment".into())],
        frontend: Some(Box::new(c)),
        ..SessionConfig::default()
    });
    let r = launch(
        &f.chain_dir(),
        &Which::Recorded { block: 2, tx: 1 },
        &session,
    )
    .unwrap();
    assert_eq!(r.matches_record(), Some(false));
    assert!(format!("{:?}", r.receipt.status).contains("stopped by the debugger"));
}

/// A scripted DAP client over a pair of sockets.
struct Client {
    out: std::os::unix::net::UnixStream,
    input: std::io::BufReader<std::os::unix::net::UnixStream>,
    seq: u64,
    events: Vec<serde_json::Value>,
}

impl Client {
    fn read(&mut self) -> serde_json::Value {
        use std::io::{BufRead, Read};
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            assert!(
                self.input.read_line(&mut line).unwrap() > 0,
                "server closed"
            );
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        self.input.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// Sends a request and returns its response (events met meanwhile are kept).
    fn request(&mut self, command: &str, arguments: serde_json::Value) -> serde_json::Value {
        self.seq += 1;
        let msg = serde_json::json!({"seq": self.seq, "type": "request", "command": command, "arguments": arguments});
        keel_devtools::debug::dap::write_message(&mut self.out, &msg).unwrap();
        loop {
            let m = self.read();
            if m["type"] == "response" && m["request_seq"] == self.seq {
                assert_eq!(m["success"], true, "{command}: {m}");
                return m;
            }
            self.events.push(m);
        }
    }

    fn event(&mut self, name: &str) -> serde_json::Value {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
            return self.events.remove(i);
        }
        loop {
            let m = self.read();
            if m["type"] == "event" && m["event"] == name {
                return m;
            }
            self.events.push(m);
        }
    }
}

#[test]
fn a_scripted_dap_client_stops_at_a_line_inspects_steps_and_disconnects() {
    use std::os::unix::net::UnixStream;
    let f = fixture();
    let line = f.line_of("keel_storage_write");
    let (client_out, server_in) = UnixStream::pair().unwrap();
    let (server_out, client_in) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        keel_devtools::debug::dap::serve(
            Box::new(std::io::BufReader::new(server_in)),
            Box::new(server_out),
        )
    });
    let mut c = Client {
        out: client_out,
        input: std::io::BufReader::new(client_in),
        seq: 0,
        events: Vec::new(),
    };
    let init = c.request("initialize", serde_json::json!({"adapterID": "keel"}));
    assert_eq!(init["body"]["supportsConfigurationDoneRequest"], true);
    c.event("initialized");
    let side = f.dir.path().join("counter.debug.wasm");
    std::fs::write(&side, &f.side).unwrap();
    c.request(
        "launch",
        serde_json::json!({"data": f.chain_dir(), "block": 2, "tx": 1, "sideFiles": [side]}),
    );
    let bps = c.request(
        "setBreakpoints",
        serde_json::json!({"source": {"path": f.source}, "breakpoints": [{"line": line}]}),
    );
    assert_eq!(bps["body"]["breakpoints"][0]["verified"], true);
    c.request("configurationDone", serde_json::json!({}));
    let stopped = c.event("stopped");
    assert_eq!(stopped["body"]["reason"], "breakpoint");
    let st = c.request("stackTrace", serde_json::json!({"threadId": 1}));
    let top = &st["body"]["stackFrames"][0];
    assert_eq!(top["line"], line);
    assert_eq!(top["name"], "counter_add");
    assert_eq!(top["source"]["path"], "src/counter.c");
    assert_eq!(st["body"]["stackFrames"][1]["name"], "increment");
    let scopes = c.request("scopes", serde_json::json!({"frameId": 0}));
    assert_eq!(scopes["body"]["scopes"][0]["name"], "Locals");
    let vars = c.request("variables", serde_json::json!({"variablesReference": 1}));
    let names: Vec<&str> = vars["body"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"arg0"), "{vars}");
    c.request("next", serde_json::json!({"threadId": 1}));
    let stepped = c.event("stopped");
    assert_eq!(stepped["body"]["reason"], "step");
    let st = c.request("stackTrace", serde_json::json!({"threadId": 1}));
    let after = &st["body"]["stackFrames"][0];
    assert!(
        after["line"] != line || after["name"] != "counter_add",
        "{st}"
    );
    c.request("continue", serde_json::json!({"threadId": 1}));
    let out = c.event("output");
    assert!(
        out["body"]["output"].as_str().unwrap().contains("Success"),
        "{out}"
    );
    c.event("terminated");
    c.request("disconnect", serde_json::json!({}));
    server.join().unwrap().unwrap();
}

#[test]
fn a_new_transaction_runs_against_the_head_is_traced_and_commits_nothing() {
    let f = fixture();
    let me = address_of(&demo_key(0).public_key().to_bytes());
    let nonce = {
        let chain = Chain::open(f.chain_dir(), verifier()).unwrap();
        chain.account(&me).unwrap().unwrap().nonce
    };
    let counter = contract_address(&me, 0);
    let stx = call(nonce, counter, "increment", Vec::new());
    let which = Which::New {
        tx_hex: hex::encode(keel_chain::encode(&stx)),
    };
    let run = || {
        let session = Session::new(SessionConfig {
            side_files: vec![f.side.clone()],
            ..SessionConfig::default()
        });
        let r = launch(&f.chain_dir(), &which, &session).unwrap();
        (r, serde_json::to_string(&session.trace()).unwrap())
    };
    let (r, json) = run();
    // On the head: add(5), increment (6), a trap; so this increment makes 7.
    assert_eq!((r.block, r.tx, r.matches_record()), (3, 0, None));
    assert!(
        matches!(r.receipt.status, TxStatus::Success { .. }),
        "{r:?}"
    );
    let seven = hex::encode(7u64.to_le_bytes());
    assert!(
        json.contains(&format!(
            "\"write\":{{\"key\":\"{}\",\"value\":\"{seven}\"}}",
            hex::encode("count")
        )),
        "{json}"
    );
    // Nothing was committed: the same run again gives the same receipt and trace.
    let (again, json_again) = run();
    assert_eq!(again.receipt, r.receipt);
    assert_eq!(json_again, json);
    let chain = Chain::open(f.chain_dir(), verifier()).unwrap();
    assert_eq!(chain.head().unwrap().0, 2);
}

#[test]
fn breakpoints_by_function_and_by_module_offset_stop_where_they_name() {
    let f = fixture();
    let stop_text = |bp: Breakpoint| {
        let (c, out) = console("bt\nc\n");
        let session = Session::new(SessionConfig {
            side_files: vec![f.side.clone()],
            breakpoints: vec![bp],
            frontend: Some(Box::new(c)),
            ..SessionConfig::default()
        });
        let r = launch(
            &f.chain_dir(),
            &Which::Recorded { block: 2, tx: 1 },
            &session,
        )
        .unwrap();
        assert_eq!(r.matches_record(), Some(true));
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        (text, session.trace())
    };
    let (text, trace) = stop_text(Breakpoint::Func("counter_add".into()));
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("stopped (Breakpoint) at src/counter.c:")
            && first.contains(" in counter_add ["),
        "{text}"
    );
    assert!(text.contains("#1 increment at"), "{text}");
    // A later block of the run, named by its module offset.
    let site = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Block { site, charge, .. } if *charge > 0 => Some(*site),
            _ => None,
        })
        .nth(2)
        .unwrap();
    let (text, _) = stop_text(format!("{site:#x}").parse().unwrap());
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("stopped (Breakpoint) at "), "{text}");
    assert!(first.contains(&format!("[{site:#x}]")), "{text}");
    assert_eq!(text.matches("stopped (").count(), 1, "{text}");
}

/// Entry `fwd`: calls `increment` of the contract at input[0..32] with all gas and returns its
/// return data. Manifest: calls to any contract.
const FORWARDER: &str = r#"
(module
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "keel" "return_data_size" (func $rd_size (result i32)))
  (import "keel" "return_data_copy" (func $rd_copy (param i32 i32 i32)))
  (import "keel" "handle_for_contract" (func $handle (param i32) (result i32)))
  (@custom "keel.manifest" "\01\04")
  (memory 1 1)
  (data (i32.const 0) "increment")
  (data (i32.const 64) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (func (export "fwd")
    (local $rd i32)
    (call $input_copy (i32.const 1024) (i32.const 0) (i32.const 32))
    (drop (call $call (call $handle (i32.const 1024)) (i32.const 0) (i32.const 9)
                (i32.const 0) (i32.const 0) (i32.const 32) (i32.const 64) (i32.const 0) (i32.const 0)))
    (local.set $rd (call $rd_size))
    (call $rd_copy (i32.const 4096) (i32.const 0) (local.get $rd))
    (call $return_data (i32.const 4096) (local.get $rd))))
"#;

#[test]
fn a_cross_contract_call_is_traced_as_a_nested_frame_and_shown_in_the_backtrace() {
    let f = fixture();
    let me = address_of(&demo_key(0).public_key().to_bytes());
    let counter = contract_address(&me, 0);
    {
        let mut chain = Chain::open(f.chain_dir(), verifier()).unwrap();
        add_proposer_keys(&mut chain);
        let nonce = chain.account(&me).unwrap().unwrap().nonce;
        let deploy = sign(
            nonce,
            TxKind::Deploy {
                code: wat::parse_str(FORWARDER).unwrap(),
                constructor: None,
            },
        );
        let fwd = call(
            nonce + 1,
            contract_address(&me, nonce),
            "fwd",
            counter.to_vec(),
        );
        for tx in [deploy, fwd] {
            let header = chain.next_local_header().unwrap();
            let r = chain
                .execute_block(&Block {
                    header,
                    txs: vec![tx],
                })
                .unwrap();
            assert!(
                matches!(r.receipts[0].status, TxStatus::Success { .. }),
                "{r:?}"
            );
        }
    }
    let (c, out) = console("bt\nc\n");
    let session = Session::new(SessionConfig {
        side_files: vec![f.side.clone()],
        breakpoints: vec![Breakpoint::Func("counter_add".into())],
        frontend: Some(Box::new(c)),
        ..SessionConfig::default()
    });
    let r = launch(
        &f.chain_dir(),
        &Which::Recorded { block: 4, tx: 0 },
        &session,
    )
    .unwrap();
    assert_eq!(r.matches_record(), Some(true), "{r:?}");
    let trace = session.trace();
    let frames: Vec<(u32, &str, &str)> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Frame {
                depth,
                entry,
                contract,
                ..
            } => Some((*depth, entry.as_str(), contract.as_str())),
            _ => None,
        })
        .collect();
    let counter_hex = hex::encode(counter);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!((frames[0].0, frames[0].1), (0, "fwd"), "{frames:?}");
    assert_eq!(frames[1], (1, "increment", counter_hex.as_str()));
    // The callee's write (the fixture left the counter at 6) is traced at depth 1; the
    // frames end callee first.
    let seven = hex::encode(7u64.to_le_bytes());
    assert!(trace.events.iter().any(|e| matches!(e,
        Event::Host { depth: 1, storage: Some(Storage::Write { value, .. }), .. } if *value == seven)),
        "{:?}", trace.events);
    let ends: Vec<u32> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::End { depth, .. } => Some(*depth),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [1, 0]);
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains(&format!("contract {counter_hex} depth 1")),
        "{text}"
    );
    assert!(text.contains("depth 0"), "{text}");
}
