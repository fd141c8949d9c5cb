//! Loop nesting checks (trusted): the certificate assigns every instruction its innermost loop
//! (`loop_of`) and every loop its parent. The checker verifies that control enters a loop only
//! through its head and leaves only to an enclosing level, and that every edge into a head from
//! inside its own loop makes the ranking progress. Then each loop is entered at most once per
//! iteration of its parent, each body instruction runs at most once per iteration, and an
//! instruction runs at most the product of `max_iterations` over its enclosing loops.

use crate::certificate::{Certificate, LoopBound};
use std::collections::BTreeMap;

/// The validated nesting: per loop head, its chain (itself first, then ancestors) and the
/// product of the declared iteration bounds along it.
pub struct Nest<'a> {
    loops: BTreeMap<u32, (&'a LoopBound, Vec<u32>, u128)>,
    loop_of: &'a [Option<u32>],
}

impl<'a> Nest<'a> {
    /// Validates the loop table and `loop_of`. Errors: a description of the malformation.
    pub fn new(cert: &'a Certificate, n: usize) -> Result<Self, String> {
        if cert.loop_of.len() != n {
            return Err(format!(
                "{} loop assignments for {n} slots",
                cert.loop_of.len()
            ));
        }
        let mut by_head: BTreeMap<u32, &LoopBound> = BTreeMap::new();
        for lb in &cert.loops {
            if lb.head as usize >= n || lb.step == 0 || by_head.insert(lb.head, lb).is_some() {
                return Err(format!("malformed loop table entry {lb:?}"));
            }
        }
        let mut loops = BTreeMap::new();
        for (&h, &lb) in &by_head {
            let (mut chain, mut mult, mut at) = (vec![h], u128::from(lb.max_iterations), lb);
            while let Some(p) = at.parent {
                let parent = by_head
                    .get(&p)
                    .copied()
                    .filter(|_| chain.len() <= by_head.len());
                let parent = parent.ok_or_else(|| format!("loop {h}: bad parent chain at {p}"))?;
                chain.push(p);
                mult = mult.saturating_mul(u128::from(parent.max_iterations));
                at = parent;
            }
            if cert.loop_of.get(h as usize).copied().flatten() != Some(h) {
                return Err(format!("loop head {h} is not assigned to its own loop"));
            }
            loops.insert(h, (lb, chain, mult));
        }
        if let Some(bad) = cert
            .loop_of
            .iter()
            .flatten()
            .find(|h| !loops.contains_key(h))
        {
            return Err(format!("instruction assigned to undeclared loop {bad}"));
        }
        Ok(Self {
            loops,
            loop_of: &cert.loop_of,
        })
    }

    /// The loop bound declared at head `pc`, if `pc` is a head.
    pub fn head(&self, pc: usize) -> Option<&'a LoopBound> {
        let h = u32::try_from(pc).ok()?;
        self.loops.get(&h).map(|(lb, _, _)| *lb)
    }

    fn chain(&self, pc: usize) -> &[u32] {
        self.loop_of
            .get(pc)
            .copied()
            .flatten()
            .and_then(|h| self.loops.get(&h))
            .map_or(&[], |(_, c, _)| c.as_slice())
    }

    /// How many times instruction `pc` can run (product over its enclosing loops).
    pub fn multiplicity(&self, pc: usize) -> u128 {
        self.loop_of
            .get(pc)
            .copied()
            .flatten()
            .and_then(|h| self.loops.get(&h))
            .map_or(1, |(_, _, m)| *m)
    }

    /// Classifies edge `p -> t`: `Ok(Some(lb))` if it is an edge into a head from inside that
    /// loop (the caller checks progress), `Ok(None)` for any other well-nested edge.
    /// Errors: the edge enters a loop elsewhere than at its head, or goes backward into an
    /// instruction that is not a head of an enclosing loop.
    pub fn edge(&self, p: usize, t: usize) -> Result<Option<&'a LoopBound>, String> {
        let (cp, ct) = (self.chain(p), self.chain(t));
        let head = self.head(t);
        if let Some(lb) = head
            && cp.contains(&lb.head)
        {
            return Ok(Some(lb));
        }
        if t <= p {
            return Err(format!(
                "backward edge to {t}, which is not the head of a loop enclosing {p}"
            ));
        }
        let entering = head.is_some() && cp.ends_with(ct.get(1..).unwrap_or(&[]));
        if cp.ends_with(ct) || entering {
            Ok(None)
        } else {
            Err(format!(
                "edge to {t} enters loop {:?} elsewhere than at its head",
                ct.first()
            ))
        }
    }
}
