//! A Debug Adapter Protocol server (`keel debug dap`): Content-Length framed JSON on a byte
//! stream, so VS Code or any DAP client steps through a replayed transaction.
//!
//! Requests: `initialize`, `launch` (arguments `data`, and `block` + `tx` or `txFile`;
//! optional `sideFiles`, `stopOnEntry`), `setBreakpoints` (source lines),
//! `setFunctionBreakpoints`, `configurationDone` (starts the run), `threads`, `stackTrace`,
//! `scopes`, `variables`, `continue`, `next`, `stepIn`, `stepOut`, `disconnect`. The run
//! happens on its own thread; at a stop its front end hands the stop to the protocol thread
//! and waits for the resume command. A single thread (id 1) is the transaction.

use super::breakpoint::Breakpoint;
use super::replay::{Which, launch};
use super::session::{Session, SessionConfig};
use super::stop::{Frontend, Resume, Stop};
use crate::error::DevError;
use serde_json::{Value, json};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

/// Largest message accepted (a bound on what a client can make the server allocate).
pub const MAX_MESSAGE: usize = 16 << 20;
/// Longest header line accepted (`Content-Length: N` needs a few dozen bytes).
pub const MAX_HEADER_LINE: u64 = 4096;

/// What reaches the protocol loop.
enum Msg {
    Request(Value),
    /// The client closed its end (or sent a bad frame, with why).
    Closed(Option<String>),
    Stopped(Box<Stop>),
    Finished(Result<String, String>),
}

/// Reads one framed message; `Ok(None)` at end of input.
fn read_message(input: &mut dyn BufRead) -> Result<Option<Value>, String> {
    let mut length = None;
    loop {
        let mut line = String::new();
        let read = (&mut *input)
            .take(MAX_HEADER_LINE)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if read == 0 {
            return Ok(None);
        }
        if !line.ends_with('\n') && read as u64 >= MAX_HEADER_LINE {
            return Err(format!("header line longer than {MAX_HEADER_LINE} bytes"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = Some(value.trim().parse::<usize>().map_err(|e| e.to_string())?);
        }
    }
    let n = length.ok_or("message without Content-Length")?;
    if n > MAX_MESSAGE {
        return Err(format!("message of {n} bytes (limit {MAX_MESSAGE})"));
    }
    let mut body = vec![0; n];
    input.read_exact(&mut body).map_err(|e| e.to_string())?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Writes one framed message.
pub fn write_message(out: &mut dyn Write, v: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(v)?;
    write!(out, "Content-Length: {}\r\n\r\n", body.len())?;
    out.write_all(&body)?;
    out.flush()
}

/// The run's front end: hands each stop to the protocol loop and waits for its answer.
struct Remote {
    events: Sender<Msg>,
    resume: Receiver<Resume>,
}

impl Frontend for Remote {
    fn stopped(&mut self, stop: &Stop, _memory: &[u8]) -> Resume {
        if self
            .events
            .send(Msg::Stopped(Box::new(stop.clone())))
            .is_err()
        {
            return Resume::Quit;
        }
        // The client went away: end the run.
        self.resume.recv().unwrap_or(Resume::Quit)
    }
}

/// What `launch` and the breakpoint requests configured.
#[derive(Default)]
struct Config {
    data: Option<PathBuf>,
    which: Option<Which>,
    side_files: Vec<PathBuf>,
    stop_on_entry: bool,
    lines: Vec<Breakpoint>,
    funcs: Vec<Breakpoint>,
}

struct Server {
    out: Box<dyn Write + Send>,
    seq: u64,
    config: Config,
    stop: Option<Stop>,
    resume: Option<Sender<Resume>>,
    events: Sender<Msg>,
    run: Option<std::thread::JoinHandle<()>>,
}

/// Serves one debugging session on `input`/`output` until `disconnect` or end of input.
///
/// # Errors
/// [`DevError::Io`] if the output cannot be written.
pub fn serve(
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
) -> Result<(), DevError> {
    let (tx, rx) = channel();
    let reader_tx = tx.clone();
    std::thread::spawn(move || {
        let mut input = input;
        loop {
            match read_message(&mut *input) {
                Ok(Some(v)) => {
                    if reader_tx.send(Msg::Request(v)).is_err() {
                        return;
                    }
                }
                Ok(None) => return drop(reader_tx.send(Msg::Closed(None))),
                Err(e) => return drop(reader_tx.send(Msg::Closed(Some(e)))),
            }
        }
    });
    let mut s = Server {
        out: output,
        seq: 0,
        config: Config::default(),
        stop: None,
        resume: None,
        events: tx,
        run: None,
    };
    let result = s.serve(&rx);
    // A run still waiting at a stop is told to quit so its thread ends.
    if let Some(r) = s.resume.take() {
        let _ = r.send(Resume::Quit);
    }
    drop(rx);
    if let Some(h) = s.run.take() {
        let _ = h.join();
    }
    result.map_err(DevError::io("<DAP output>"))
}

impl Server {
    fn send(&mut self, mut v: Value) -> std::io::Result<()> {
        self.seq = self.seq.saturating_add(1);
        v["seq"] = json!(self.seq);
        write_message(&mut *self.out, &v)
    }

    fn event(&mut self, event: &str, body: Value) -> std::io::Result<()> {
        self.send(json!({"type": "event", "event": event, "body": body}))
    }

    fn respond(&mut self, req: &Value, result: Result<Value, String>) -> std::io::Result<()> {
        let mut v = json!({
            "type": "response",
            "request_seq": req["seq"],
            "command": req["command"],
            "success": result.is_ok(),
        });
        match result {
            Ok(body) => v["body"] = body,
            Err(message) => v["message"] = json!(message),
        }
        self.send(v)
    }

    fn serve(&mut self, rx: &Receiver<Msg>) -> std::io::Result<()> {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Request(req) => {
                    if !self.request(&req)? {
                        return Ok(());
                    }
                }
                Msg::Closed(why) => {
                    if let Some(why) = why {
                        self.event("output", json!({"category": "stderr", "output": why}))?;
                    }
                    return Ok(());
                }
                Msg::Stopped(stop) => {
                    let reason = match stop.reason {
                        super::stop::StopReason::Entry => "entry",
                        super::stop::StopReason::Breakpoint => "breakpoint",
                        super::stop::StopReason::Step => "step",
                    };
                    self.stop = Some(*stop);
                    let body = json!({"reason": reason, "threadId": 1, "allThreadsStopped": true});
                    self.event("stopped", body)?;
                }
                Msg::Finished(result) => {
                    self.resume = None;
                    let (category, output) = match result {
                        Ok(s) => ("console", s),
                        Err(e) => ("stderr", e),
                    };
                    self.event(
                        "output",
                        json!({"category": category, "output": output + "\n"}),
                    )?;
                    self.event("exited", json!({"exitCode": 0}))?;
                    self.event("terminated", json!({}))?;
                }
            }
        }
        Ok(())
    }

    /// Answers one request; `false` ends the session.
    fn request(&mut self, req: &Value) -> std::io::Result<bool> {
        let args = &req["arguments"];
        let command = req["command"].as_str().unwrap_or_default().to_owned();
        let result = match command.as_str() {
            "initialize" => {
                let caps = json!({
                    "supportsConfigurationDoneRequest": true,
                    "supportsFunctionBreakpoints": true,
                    "supportsStepBack": false,
                });
                self.respond(req, Ok(caps))?;
                self.event("initialized", json!({}))?;
                return Ok(true);
            }
            "launch" => self.launch_args(args),
            "setBreakpoints" => Ok(self.set_breakpoints(args)),
            "setFunctionBreakpoints" => Ok(self.set_function_breakpoints(args)),
            "setExceptionBreakpoints" => Ok(json!({"breakpoints": []})),
            "configurationDone" => self.start(),
            "threads" => Ok(json!({"threads": [{"id": 1, "name": "transaction"}]})),
            "stackTrace" => Ok(self.stack_trace()),
            "scopes" => Ok(self.scopes(args)),
            "variables" => Ok(self.variables(args)),
            "continue" => self.resume_with(Resume::Continue),
            "next" => self.resume_with(Resume::Next),
            "stepIn" => self.resume_with(Resume::Step),
            "stepOut" => self.resume_with(Resume::Out),
            "disconnect" | "terminate" => {
                if let Some(r) = self.resume.take() {
                    let _ = r.send(Resume::Quit);
                }
                self.respond(req, Ok(json!({})))?;
                return Ok(command != "disconnect");
            }
            other => Err(format!("unsupported request {other:?}")),
        };
        self.respond(req, result)?;
        Ok(true)
    }

    fn launch_args(&mut self, args: &Value) -> Result<Value, String> {
        let data = args["data"]
            .as_str()
            .ok_or("launch needs \"data\" (a chain directory)")?;
        let which = match (
            args["block"].as_u64(),
            args["tx"].as_u64(),
            args["txFile"].as_str(),
        ) {
            (Some(block), Some(tx), _) => Which::Recorded {
                block,
                tx: usize::try_from(tx).map_err(|e| e.to_string())?,
            },
            (_, _, Some(path)) => Which::New {
                tx_hex: std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
            },
            _ => return Err("launch needs \"block\" and \"tx\", or \"txFile\"".into()),
        };
        self.config.data = Some(PathBuf::from(data));
        self.config.which = Some(which);
        self.config.stop_on_entry = args["stopOnEntry"].as_bool().unwrap_or(false);
        self.config.side_files = args["sideFiles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(PathBuf::from))
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({}))
    }

    fn set_breakpoints(&mut self, args: &Value) -> Value {
        let file = args["source"]["path"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // Breakpoints are set per source file: replace this file's.
        self.config
            .lines
            .retain(|b| !matches!(b, Breakpoint::Line { file: f, .. } if *f == file));
        let mut out = Vec::new();
        for b in args["breakpoints"].as_array().into_iter().flatten() {
            let Some(line) = b["line"].as_u64() else {
                continue;
            };
            self.config.lines.push(Breakpoint::Line {
                file: file.clone(),
                line,
            });
            out.push(json!({"verified": true, "line": line}));
        }
        json!({"breakpoints": out})
    }

    fn set_function_breakpoints(&mut self, args: &Value) -> Value {
        self.config.funcs = args["breakpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["name"].as_str())
            .map(|n| Breakpoint::Func(n.to_owned()))
            .collect();
        let verified: Vec<Value> = self
            .config
            .funcs
            .iter()
            .map(|_| json!({"verified": true}))
            .collect();
        json!({"breakpoints": verified})
    }

    /// `configurationDone`: starts the run on its own thread.
    fn start(&mut self) -> Result<Value, String> {
        let (Some(data), Some(which)) = (self.config.data.clone(), self.config.which.clone())
        else {
            return Err("configurationDone before launch".into());
        };
        let mut side_files = Vec::new();
        for p in &self.config.side_files {
            side_files.push(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?);
        }
        let (resume_tx, resume_rx) = channel();
        self.resume = Some(resume_tx);
        let events = self.events.clone();
        let mut breakpoints = self.config.lines.clone();
        breakpoints.extend(self.config.funcs.iter().cloned());
        let session = Session::new(SessionConfig {
            side_files,
            breakpoints,
            stop_on_entry: self.config.stop_on_entry,
            frontend: Some(Box::new(Remote {
                events: events.clone(),
                resume: resume_rx,
            })),
        });
        self.run = Some(std::thread::spawn(move || {
            let result = launch(&data, &which, &session)
                .map(|r| {
                    format!(
                        "block {} tx {}: {:?}, gas {:?}",
                        r.block, r.tx, r.receipt.status, r.receipt.gas_used
                    )
                })
                .map_err(|e| e.to_string());
            let _ = events.send(Msg::Finished(result));
        }));
        Ok(json!({}))
    }

    fn resume_with(&mut self, r: Resume) -> Result<Value, String> {
        let Some(tx) = &self.resume else {
            return Err("the transaction is not running".into());
        };
        if self.stop.take().is_none() {
            return Err("the transaction is not stopped".into());
        }
        tx.send(r).map_err(|_| "the run has ended".to_owned())?;
        Ok(json!({"allThreadsContinued": true}))
    }

    fn stack_trace(&self) -> Value {
        let frames: Vec<Value> = self
            .stop
            .iter()
            .flat_map(|s| s.frames.iter())
            .enumerate()
            .map(|(i, f)| {
                let mut v = json!({
                    "id": i,
                    "name": f.func,
                    "line": f.line.as_ref().map_or(0, |l| l.line),
                    "column": 1,
                    "instructionPointerReference": format!("{:#x}", f.site),
                });
                if let Some(l) = &f.line {
                    let name = l.file.rsplit('/').next().unwrap_or(&l.file);
                    v["source"] = json!({"name": name, "path": l.file});
                }
                v
            })
            .collect();
        json!({"stackFrames": frames, "totalFrames": frames.len()})
    }

    fn scopes(&self, args: &Value) -> Value {
        // Locals are reported for the innermost frame (reference 1); gas under reference 2.
        match args["frameId"].as_u64() {
            Some(0) => json!({"scopes": [
                {"name": "Locals", "variablesReference": 1, "expensive": false},
                {"name": "Gas", "variablesReference": 2, "expensive": false},
            ]}),
            _ => json!({"scopes": []}),
        }
    }

    fn variables(&self, args: &Value) -> Value {
        let Some(stop) = &self.stop else {
            return json!({"variables": []});
        };
        let vars: Vec<Value> = match args["variablesReference"].as_u64() {
            Some(1) => stop
                .locals
                .iter()
                .map(|l| json!({"name": l.name, "value": l.value.to_string(), "type": l.ty, "variablesReference": 0}))
                .collect(),
            Some(2) => vec![json!({"name": "gas_left", "value": stop.gas_left.to_string(), "type": "u64", "variablesReference": 0})],
            _ => Vec::new(),
        };
        json!({"variables": vars})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_messages_are_read_and_oversized_frames_refused() {
        let mut ok: &[u8] = b"Content-Length: 12\r\n\r\n{\"seq\": 1.5}";
        let v = read_message(&mut ok).map(|m| m.map(|v| v["seq"].clone()));
        assert_eq!(v, Ok(Some(json!(1.5))));
        assert_eq!(read_message(&mut ok), Ok(None));
        let huge = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE + 1);
        assert!(read_message(&mut huge.as_bytes()).is_err());
        let endless = vec![b'x'; 2 * MAX_HEADER_LINE as usize];
        let err = read_message(&mut endless.as_slice());
        assert!(err.is_err_and(|e| e.contains("header line")));
        assert!(
            read_message(&mut &b"\r\n{}"[..]).is_err(),
            "no Content-Length"
        );
    }
}
