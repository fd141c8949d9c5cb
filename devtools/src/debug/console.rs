//! The line-oriented front end: one command per line on the input, answers on the output.
//! Scriptable (`keel debug replay … --break add < commands.txt`) and what the tests drive.
//!
//! Commands at a stop: `c`ontinue, `s`tep, `n`ext, `finish`, `q`uit, `locals`, `bt`,
//! `x ADDR LEN` (memory, hex; `0x` or decimal), `gas`, `help`. End of input continues.

use super::stop::{Frontend, Resume, Stop, read_memory};
use std::io::{BufRead, Write};

/// Help text of the console.
pub const HELP: &str = "commands: c|continue  s|step  n|next  finish  q|quit  locals  bt  \
                        x ADDR LEN  gas  help";

/// Reads commands from `input`, writes to `output`.
pub struct Console {
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
}

impl Console {
    pub fn new(input: Box<dyn BufRead + Send>, output: Box<dyn Write + Send>) -> Console {
        Console { input, output }
    }

    /// Answers one command; `Some` when it resumes the run.
    fn command(
        &mut self,
        line: &str,
        stop: &Stop,
        memory: &[u8],
    ) -> std::io::Result<Option<Resume>> {
        let mut words = line.split_whitespace();
        let out = &mut self.output;
        let resume = match words.next() {
            None => None,
            Some("c" | "continue") => Some(Resume::Continue),
            Some("s" | "step") => Some(Resume::Step),
            Some("n" | "next") => Some(Resume::Next),
            Some("finish" | "out") => Some(Resume::Out),
            Some("q" | "quit") => Some(Resume::Quit),
            Some("locals") => {
                for l in &stop.locals {
                    writeln!(out, "  {} : {} = {}", l.name, l.ty, l.value)?;
                }
                None
            }
            Some("bt" | "where") => {
                for (i, f) in stop.frames.iter().enumerate() {
                    let line = f
                        .line
                        .as_ref()
                        .map_or_else(|| "?".into(), |l| l.to_string());
                    writeln!(
                        out,
                        "  #{i} {} at {line} [{:#x}] contract {} depth {}",
                        f.func, f.site, f.contract, f.depth
                    )?;
                }
                None
            }
            Some("x") => {
                let num = |w: Option<&str>| -> Option<u64> {
                    let w = w?;
                    match w.strip_prefix("0x") {
                        Some(h) => u64::from_str_radix(h, 16).ok(),
                        None => w.parse().ok(),
                    }
                };
                match (num(words.next()), num(words.next())) {
                    (Some(a), Some(n)) => match read_memory(memory, a, n) {
                        Some(bytes) => writeln!(out, "  {a:#x}: {}", hex::encode(bytes))?,
                        None => {
                            writeln!(out, "  out of bounds (memory is {} bytes)", memory.len())?
                        }
                    },
                    _ => writeln!(out, "  usage: x ADDR LEN")?,
                }
                None
            }
            Some("gas") => {
                writeln!(out, "  gas left {}", stop.gas_left)?;
                None
            }
            Some("help") => {
                writeln!(out, "  {HELP}")?;
                None
            }
            Some(other) => {
                writeln!(out, "  unknown command {other:?}; {HELP}")?;
                None
            }
        };
        Ok(resume)
    }

    fn interact(&mut self, stop: &Stop, memory: &[u8]) -> std::io::Result<Resume> {
        let top = stop.frames.first();
        let line = top
            .and_then(|f| f.line.as_ref())
            .map_or_else(|| "?".into(), |l| l.to_string());
        writeln!(
            self.output,
            "stopped ({:?}) at {line} in {} [{:#x}], gas left {}",
            stop.reason,
            top.map_or("?", |f| f.func.as_str()),
            top.map_or(0, |f| f.site),
            stop.gas_left
        )?;
        loop {
            write!(self.output, "(keel-dbg) ")?;
            self.output.flush()?;
            let mut line = String::new();
            if self.input.read_line(&mut line)? == 0 {
                return Ok(Resume::Continue);
            }
            if let Some(r) = self.command(line.trim(), stop, memory)? {
                return Ok(r);
            }
        }
    }
}

impl Frontend for Console {
    fn stopped(&mut self, stop: &Stop, memory: &[u8]) -> Resume {
        // A broken terminal cannot answer: run to the end rather than spin.
        self.interact(stop, memory).unwrap_or(Resume::Continue)
    }

    fn finished(&mut self) {
        let _ = writeln!(self.output, "run finished");
        let _ = self.output.flush();
    }
}
