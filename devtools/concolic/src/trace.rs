//! What one concolic run records: the path condition, as the facts that held at each branch.

use crate::expr::E;
use serde::Serialize;

/// Most facts one run records; past it the run goes on concretely and the trace is marked
/// truncated (the explorer negates only what was recorded).
pub const MAX_FACTS: usize = 20_000;

/// Where in the instrumented module a fact was recorded: defined-function index and
/// instruction index in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Site {
    pub func: u32,
    pub pc: u32,
}

/// Why a fact was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// A control-flow choice (`br_if`, `if`, `br_table`, `select`): negating it takes the
    /// other side.
    Branch,
    /// A check that traps on the other side (division by zero or overflow, memory bounds,
    /// input bounds of `input_copy`): negating it looks for the trap.
    TrapCheck,
    /// A symbolic value the run had to use concretely (an address, a host-call argument):
    /// kept in every prefix, never negated.
    Pin,
}

/// One fact: a boolean expression that held on this run.
#[derive(Debug, Clone)]
pub struct Fact {
    pub cond: E,
    pub kind: FactKind,
    pub site: Site,
    /// Which way the run went (0/1 for a condition, the target for `br_table`).
    pub dir: u32,
}

/// The path condition of one run.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub facts: Vec<Fact>,
    pub truncated: bool,
}

impl Trace {
    /// Records a fact, unless the trace is full.
    pub fn push(&mut self, cond: E, kind: FactKind, site: Site, dir: u32) {
        if self.facts.len() >= MAX_FACTS {
            self.truncated = true;
            return;
        }
        self.facts.push(Fact {
            cond,
            kind,
            site,
            dir,
        });
    }

    /// A fingerprint of the control path (site and direction of every non-pin fact), used
    /// to skip duplicate paths.
    pub fn signature(&self) -> Vec<(Site, u32)> {
        self.facts
            .iter()
            .filter(|f| f.kind != FactKind::Pin)
            .map(|f| (f.site, f.dir))
            .collect()
    }
}
