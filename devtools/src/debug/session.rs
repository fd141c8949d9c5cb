//! The debugger's [`DebugHook`]: records the [`Trace`] of the armed transaction and, with a
//! [`Frontend`], stops at breakpoints and steps.
//!
//! Stops happen at metering blocks (the places the debug build reports). `next` and `out`
//! tell frames apart by the `keel$stack` global (stack slots charged so far: each wasm call
//! adds its callee's frame) and by the contract call depth.

use super::breakpoint::{Breakpoint, resolve};
use super::code::CodeInfo;
use super::stop::{Frontend, Local, Resume, StackFrame, Stop, StopReason};
use super::trace::{Event, MAX_EVENTS, Trace};
use crate::dwarf::SourceLoc;
use keel_vm::debug::{BlockEvent, DebugHook, Flow, FrameStart, HostCallEvent};
use keel_vm::{CallOutcome, VmError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use wasmparser::ValType;

/// What the session is asked to do.
#[derive(Default)]
pub struct SessionConfig {
    /// DWARF side files (`NAME.debug.wasm`), matched to contracts by their code section.
    pub side_files: Vec<Vec<u8>>,
    pub breakpoints: Vec<Breakpoint>,
    /// Stop at the first block of the transaction.
    pub stop_on_entry: bool,
    /// Who is asked what to do at a stop; without one the run never stops.
    pub frontend: Option<Box<dyn Frontend>>,
}

/// A debugging session over one transaction. Share it (`Arc`) with the VM as its hook.
pub struct Session {
    state: Mutex<State>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    Step,
    Next { depth: u32, stack: u32 },
    Out { depth: u32, stack: u32 },
}

/// A wasm function activation, as far as block events show it.
struct WasmFrame {
    func: u32,
    site: u32,
    stack: u32,
}

struct ContractFrame {
    depth: u32,
    contract: String,
    code: Arc<CodeInfo>,
    /// Breakpoint sites in this code.
    stops: BTreeMap<u32, Option<SourceLoc>>,
    calls: Vec<WasmFrame>,
}

struct State {
    armed: bool,
    trace: Trace,
    /// SHA-256 of a side file's code section → the side file.
    sides: BTreeMap<[u8; 32], Arc<Vec<u8>>>,
    codes: BTreeMap<[u8; 32], Arc<CodeInfo>>,
    frames: Vec<ContractFrame>,
    breakpoints: Vec<Breakpoint>,
    mode: Mode,
    /// The line of the last stop, for `next`.
    last_line: Option<SourceLoc>,
    /// Stops so far (the first one of `stop_on_entry` is the entry).
    stops: u64,
    frontend: Option<Box<dyn Frontend>>,
    /// Why building a contract's code info failed, if it did (reported after the run).
    errors: Vec<String>,
}

fn code_section_digest(wasm: &[u8]) -> Option<[u8; 32]> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CodeSectionStart {
            unchecked_range: range,
            ..
        }) = payload
        {
            let r = usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?;
            return Some(Sha256::digest(wasm.get(r)?).into());
        }
    }
    None
}

impl Session {
    pub fn new(config: SessionConfig) -> Arc<Session> {
        let sides = config
            .side_files
            .into_iter()
            .filter_map(|s| Some((code_section_digest(&s)?, Arc::new(s))))
            .collect();
        let mode = match config.stop_on_entry {
            true => Mode::Step,
            false => Mode::Run,
        };
        Arc::new(Session {
            state: Mutex::new(State {
                armed: false,
                trace: Trace::default(),
                sides,
                codes: BTreeMap::new(),
                frames: Vec::new(),
                breakpoints: config.breakpoints,
                mode,
                last_line: None,
                stops: 0,
                frontend: config.frontend,
                errors: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts recording (and stopping): the next frame is the transaction under the debugger.
    pub fn arm(&self) {
        self.lock().armed = true;
    }

    /// The trace so far.
    pub fn trace(&self) -> Trace {
        self.lock().trace.clone()
    }

    /// Problems met while reading contracts' code (the run itself is unaffected).
    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    /// Tells the front end the run is over.
    pub fn finish(&self) {
        if let Some(f) = self.lock().frontend.as_mut() {
            f.finished();
        }
    }
}

impl State {
    fn push(&mut self, e: Event) {
        if self.trace.events.len() >= MAX_EVENTS {
            self.trace.truncated = true;
            return;
        }
        self.trace.events.push(e);
    }

    fn depth(&self) -> u32 {
        self.frames.last().map_or(0, |f| f.depth)
    }

    fn code_for(&mut self, wasm: &[u8]) -> Arc<CodeInfo> {
        let hash: [u8; 32] = Sha256::digest(wasm).into();
        if let Some(c) = self.codes.get(&hash) {
            return Arc::clone(c);
        }
        let side = code_section_digest(wasm).and_then(|d| self.sides.get(&d).cloned());
        let code = match CodeInfo::new(wasm, side.as_deref().map(Vec::as_slice)) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                self.errors.push(format!("reading contract code: {e}"));
                Arc::new(CodeInfo::default())
            }
        };
        self.codes.insert(hash, Arc::clone(&code));
        code
    }

    /// Whether the run stops at this block (before updating the mode).
    fn should_stop(&self, at: &BlockEvent<'_>, line: &Option<SourceLoc>) -> Option<StopReason> {
        let frame = self.frames.last()?;
        if frame.stops.contains_key(&at.site) {
            return Some(StopReason::Breakpoint);
        }
        let same_line = |l: &Option<SourceLoc>| l.is_some() && *l == self.last_line;
        match self.mode {
            Mode::Run => None,
            Mode::Step if self.stops == 0 => Some(StopReason::Entry),
            Mode::Step => Some(StopReason::Step),
            Mode::Next { depth, stack } => {
                let shallower = frame.depth < depth || (frame.depth == depth && at.stack < stack);
                let here = frame.depth == depth && at.stack == stack && !same_line(line);
                (shallower || here).then_some(StopReason::Step)
            }
            Mode::Out { depth, stack } => {
                let out = frame.depth < depth || (frame.depth == depth && at.stack < stack);
                out.then_some(StopReason::Step)
            }
        }
    }

    fn stop(&self, reason: StopReason, at: &BlockEvent<'_>, line: Option<SourceLoc>) -> Stop {
        let mut frames = Vec::new();
        for cf in self.frames.iter().rev() {
            for (i, w) in cf.calls.iter().rev().enumerate() {
                let innermost = frames.is_empty() && i == 0;
                frames.push(StackFrame {
                    depth: cf.depth,
                    contract: cf.contract.clone(),
                    func: cf
                        .code
                        .func(w.func)
                        .map_or_else(|| format!("#{}", w.func), |f| f.name.clone()),
                    site: w.site,
                    line: match innermost {
                        true => line.clone(),
                        false => cf.code.line(w.site),
                    },
                });
            }
        }
        let func = self
            .frames
            .last()
            .and_then(|cf| cf.code.func(at.func).cloned());
        let locals = func.map_or_else(Vec::new, |f| {
            f.locals
                .iter()
                .zip(at.locals)
                .enumerate()
                .map(|(i, (ty, v))| local(i, f.params, *ty, *v))
                .collect()
        });
        Stop {
            reason,
            frames,
            locals,
            gas_left: at.gas_left,
        }
    }
}

fn local(i: usize, params: usize, ty: ValType, raw: i64) -> Local {
    let (ty, value) = match ty {
        ValType::I32 => ("i32", i64::from(raw as u32 as i32)),
        ValType::I64 => ("i64", raw),
        _ => ("?", 0),
    };
    let name = match i < params {
        true => format!("arg{i}"),
        false => format!("local{i}"),
    };
    Local { name, ty, value }
}

/// Updates the shadow wasm call stack of `frame` with a block at `at`.
fn track_calls(frame: &mut ContractFrame, at: &BlockEvent<'_>) {
    let entry = frame
        .code
        .func(at.func)
        .and_then(|f| f.blocks.first())
        .is_some_and(|&b| b == at.site);
    // A function's entry block runs once per call: a new activation above every frame
    // charged at least as much stack; any other block continues the frame at its height.
    while frame
        .calls
        .last()
        .is_some_and(|w| w.stack > at.stack || (entry && w.stack >= at.stack))
    {
        frame.calls.pop();
    }
    match frame.calls.last_mut() {
        Some(w) if !entry && w.stack == at.stack => {
            w.func = at.func;
            w.site = at.site;
        }
        _ => frame.calls.push(WasmFrame {
            func: at.func,
            site: at.site,
            stack: at.stack,
        }),
    }
}

impl DebugHook for Session {
    fn frame_start(&self, f: &FrameStart<'_>) {
        let mut s = self.lock();
        if !s.armed {
            return;
        }
        let code = s.code_for(&f.module.bytes);
        let stops = resolve(&s.breakpoints, &code);
        s.frames.push(ContractFrame {
            depth: f.depth,
            contract: hex::encode(f.contract),
            code,
            stops,
            calls: Vec::new(),
        });
        s.push(Event::frame(f));
    }

    fn block(&self, at: &BlockEvent<'_>) -> Flow {
        let mut guard = self.lock();
        let s = &mut *guard;
        if !s.armed {
            return Flow::Continue;
        }
        let Some(frame) = s.frames.last_mut() else {
            return Flow::Continue;
        };
        track_calls(frame, at);
        let depth = frame.depth;
        let mut line = frame.code.line(at.site);
        s.push(Event::block(
            depth,
            at,
            line.as_ref().map(|l| l.to_string()),
        ));
        if s.frontend.is_none() {
            return Flow::Continue;
        }
        let Some(reason) = s.should_stop(at, &line) else {
            return Flow::Continue;
        };
        if let Some(Some(bp_line)) = s.frames.last().and_then(|f| f.stops.get(&at.site)) {
            line = Some(bp_line.clone());
        }
        let stop = s.stop(reason, at, line.clone());
        s.last_line = line;
        s.stops = s.stops.saturating_add(1);
        let resume = match s.frontend.as_mut() {
            Some(f) => f.stopped(&stop, at.memory),
            None => Resume::Continue,
        };
        s.mode = match resume {
            Resume::Continue => Mode::Run,
            Resume::Step => Mode::Step,
            Resume::Next => Mode::Next {
                depth,
                stack: at.stack,
            },
            Resume::Out => Mode::Out {
                depth,
                stack: at.stack,
            },
            Resume::Quit => return Flow::Abort,
        };
        Flow::Continue
    }

    fn host_call(&self, e: &HostCallEvent<'_>) {
        let mut s = self.lock();
        if s.armed {
            let depth = s.depth();
            s.push(Event::host(depth, e));
        }
    }

    fn frame_end(&self, outcome: Result<&CallOutcome, &VmError>) {
        let mut s = self.lock();
        if !s.armed {
            return;
        }
        let depth = s.depth();
        s.push(Event::end(depth, outcome));
        s.frames.pop();
    }
}
