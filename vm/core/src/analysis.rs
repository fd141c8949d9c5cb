//! Predictive metering: a static upper bound on the compute gas of each exported function.
//!
//! A function is *bounded* when each of its loops is a counted loop and every function it can
//! call (directly, or indirectly through the table) is bounded and not recursive. Outside loops
//! every metering block runs at most once per invocation, so the bound is the sum of its block charges, plus the
//! bounds of its callees at each call site, plus host-call costs. The data-proportional part of
//! host costs is bounded by the largest memory the module may have (a host call can never move
//! more bytes than memory holds) and reported separately, because it is usually far above what a
//! real call moves. A loop is bounded when it is a *counted loop* (see [`loop_iterations`]): its
//! body is then charged once per possible iteration; any other loop makes the bound "unbounded",
//! with the reason.

use crate::admission::AdmittedModule;
use crate::metering::block_charges;
use crate::profile::Profile;
use crate::schedule::GasSchedule;
use serde::Serialize;
use std::collections::BTreeMap;
use wasmparser::{Operator, Parser, Payload};

/// The static verdict for one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum GasBound {
    /// Every call costs at most `compute` gas, of which at most `from_host_data` comes from the
    /// per-byte part of host calls (bounded by the maximum memory size).
    Bounded { compute: u64, from_host_data: u64 },
    /// No bound could be proven, and why.
    Unbounded { reason: String },
}

#[derive(Clone)]
enum State {
    InProgress,
    Done(GasBound),
}

struct Analyzer<'m> {
    module: &'m AdmittedModule,
    schedule: &'m GasSchedule,
    max_memory_bytes: u64,
    bodies: Vec<Vec<Operator<'m>>>,
    memo: BTreeMap<u32, State>,
}

/// Static bounds for every exported function, including the per-call base charges
/// (`call_base` and the code-size charge). Deterministic.
pub fn static_bounds(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
) -> BTreeMap<String, GasBound> {
    let max_pages = module
        .memory
        .map(|(_, max)| max.unwrap_or(u64::from(profile.max_memory_pages)))
        .unwrap_or(0)
        .min(u64::from(profile.max_memory_pages));
    let mut a = Analyzer {
        module,
        schedule,
        max_memory_bytes: max_pages.saturating_mul(65536),
        bodies: Vec::new(),
        memo: BTreeMap::new(),
    };
    if let Err(reason) = a.read_bodies() {
        return module
            .exports
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    GasBound::Unbounded {
                        reason: reason.clone(),
                    },
                )
            })
            .collect();
    }
    let base = schedule
        .call_base
        .saturating_add(schedule.code_cost(module.bytes.len()));
    module
        .exports
        .iter()
        .map(|e| {
            let b = match a.bound(e.func_index) {
                GasBound::Bounded {
                    compute,
                    from_host_data,
                } => GasBound::Bounded {
                    compute: compute.saturating_add(base),
                    from_host_data,
                },
                u => u,
            };
            (e.name.clone(), b)
        })
        .collect()
}

impl<'m> Analyzer<'m> {
    fn read_bodies(&mut self) -> Result<(), String> {
        for payload in Parser::new(0).parse_all(&self.module.bytes) {
            if let Payload::CodeSectionEntry(body) = payload.map_err(|e| e.to_string())? {
                let mut r = body.get_operators_reader().map_err(|e| e.to_string())?;
                let mut ops = Vec::new();
                while !r.eof() {
                    ops.push(r.read().map_err(|e| e.to_string())?);
                }
                self.bodies.push(ops);
            }
        }
        Ok(())
    }

    fn bound(&mut self, func: u32) -> GasBound {
        let imported = self.module.imports.len() as u32;
        if let Some(&(host, _)) = self.module.imports.get(func as usize) {
            if host == crate::abi::HostFn::Call {
                // The callee's gas is bounded only by the limit the caller forwards at run time.
                return GasBound::Unbounded {
                    reason: "makes cross-contract calls (their gas is bounded only by the forwarded limit)".into(),
                };
            }
            let base = self.schedule.host_cost(host, 0);
            let data = self
                .schedule
                // At most two buffers per call, each clamped to memory size when charged.
                .host_cost(host, self.max_memory_bytes.saturating_mul(2))
                .saturating_sub(base);
            return GasBound::Bounded {
                compute: base.saturating_add(data),
                from_host_data: data,
            };
        }
        match self.memo.get(&func) {
            Some(State::Done(b)) => return b.clone(),
            Some(State::InProgress) => {
                return GasBound::Unbounded {
                    reason: format!("recursion through function {func}"),
                };
            }
            None => {}
        }
        self.memo.insert(func, State::InProgress);
        // func >= imported here (imports returned above).
        let b = self.body_bound(func, func.saturating_sub(imported) as usize);
        self.memo.insert(func, State::Done(b.clone()));
        b
    }

    fn body_bound(&mut self, func: u32, index: usize) -> GasBound {
        let Some(ops) = self.bodies.get(index).cloned() else {
            return GasBound::Unbounded {
                reason: format!("function {func} has no body"),
            };
        };
        let charges = block_charges(&ops, self.schedule);
        let ends = matching_ends(&ops);
        match self.range_bound(func, &ops, &charges, &ends, 0, ops.len()) {
            Ok((compute, from_host_data)) => GasBound::Bounded {
                compute,
                from_host_data,
            },
            Err(reason) => GasBound::Unbounded { reason },
        }
    }

    /// Bound of executing `ops[from..to]` once: every metering block charged once, except that
    /// a counted loop's body is charged once per possible iteration.
    fn range_bound(
        &mut self,
        func: u32,
        ops: &[Operator<'m>],
        charges: &[u64],
        ends: &[usize],
        from: usize,
        to: usize,
    ) -> Result<(u64, u64), String> {
        let (mut compute, mut host) = (0u64, 0u64);
        let mut i = from;
        while i < to {
            if let Some(Operator::Loop { .. }) = ops.get(i) {
                let end = ends.get(i).copied().unwrap_or(to);
                let n = loop_iterations(ops, i, end)
                    .map_err(|why| format!("function {func}: loop at operator {i}: {why}"))?;
                // Operator indices are below ops.len(): the increments never saturate.
                let (inner, after) = (i.saturating_add(1), end.saturating_add(1));
                let (c, h) = self.range_bound(func, ops, charges, ends, inner, after)?;
                compute = compute.saturating_add(c.saturating_mul(n));
                host = host.saturating_add(h.saturating_mul(n));
                compute = compute.saturating_add(charges.get(i).copied().unwrap_or(0));
                i = after;
                continue;
            }
            compute = compute.saturating_add(charges.get(i).copied().unwrap_or(0));
            let callee = match ops.get(i) {
                Some(Operator::Call { function_index }) => Some(self.bound(*function_index)),
                Some(Operator::CallIndirect { type_index, .. }) => {
                    Some(self.indirect_bound(*type_index))
                }
                _ => None,
            };
            match callee {
                Some(GasBound::Bounded {
                    compute: c,
                    from_host_data: h,
                }) => {
                    compute = compute.saturating_add(c);
                    host = host.saturating_add(h);
                }
                Some(GasBound::Unbounded { reason }) => {
                    return Err(format!("calls into unbounded code: {reason}"));
                }
                None => {}
            }
            i = i.saturating_add(1);
        }
        Ok((compute, host))
    }

    fn indirect_bound(&mut self, type_index: u32) -> GasBound {
        let Some(sig) = self.module.types.get(type_index as usize).cloned() else {
            return GasBound::Unbounded {
                reason: format!("call_indirect through unknown type {type_index}"),
            };
        };
        let candidates: Vec<u32> = self
            .module
            .table_functions
            .iter()
            .copied()
            .filter(|&f| self.module.func_sig(f) == Some(&sig))
            .collect();
        let mut worst = GasBound::Bounded {
            compute: 0,
            from_host_data: 0,
        };
        for f in candidates {
            match (self.bound(f), &worst) {
                (u @ GasBound::Unbounded { .. }, _) => return u,
                (
                    GasBound::Bounded {
                        compute,
                        from_host_data,
                    },
                    GasBound::Bounded { compute: wc, .. },
                ) if compute > *wc => {
                    worst = GasBound::Bounded {
                        compute,
                        from_host_data,
                    }
                }
                _ => {}
            }
        }
        worst
    }
}

/// For each `block`/`loop`/`if` operator, the index of its matching `end`.
fn matching_ends(ops: &[Operator<'_>]) -> Vec<usize> {
    let mut ends = vec![usize::MAX; ops.len()];
    let mut stack = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => stack.push(i),
            Operator::End => {
                if let Some(open) = stack.pop()
                    && let Some(e) = ends.get_mut(open)
                {
                    *e = i;
                }
            }
            _ => {}
        }
    }
    ends
}

/// The most times the body of the loop `ops[start..=end]` can run, for the counted loops this
/// analysis proves:
///
/// ```text
/// loop            ;; start
///   …             ;; at nesting depth 0 of the body, exactly one write to $i:
///   local.get $i  i32.const S  i32.add  local.set|tee $i      (S > 0)
///   …
///   local.get $i  i32.const N  i32.lt_u  br_if 0             ;; the only branch to the loop
/// end             ;; end
/// ```
/// (or the same with i64). Each iteration that repeats has `$i < N` after adding `S`, with no
/// wrap-around while `N + S` fits the type, so at most `1 + ceil(N / S)` iterations run,
/// whatever `$i` held on entry. The write may also be the `local.tee $i` that feeds the test
/// (clang's shape). With `i32.ne` instead of `lt_u` (clang's shape for `i < N` loops), the
/// loop is counted when `$i` is set to a constant `C` before the loop, on every path to it
/// (see [`initial_value`]), with `C < N` and `S` dividing `N - C`: exactly `(N - C) / S`
/// iterations. A loop that instead exits when its counter equals a constant is counted too
/// (see [`exit_counted`]). Anything else is refused with the reason.
pub fn loop_iterations(ops: &[Operator<'_>], start: usize, end: usize) -> Result<u64, String> {
    use Operator as O;
    let body = ops
        .get(start.saturating_add(1)..end)
        .ok_or("malformed loop")?;
    let n = body.len();
    let Some([a, b, c, d]) = n.checked_sub(4).and_then(|t| body.get(t..)) else {
        return Err("body too short to be a counted loop".into());
    };
    let (local, limit, wide, equality) = match (a, b, c, d) {
        (
            O::LocalGet { local_index } | O::LocalTee { local_index },
            O::I32Const { value },
            cmp @ (O::I32LtU | O::I32Ne),
            O::BrIf { relative_depth: 0 },
        ) => (
            *local_index,
            u64::from(*value as u32),
            false,
            matches!(cmp, O::I32Ne),
        ),
        (
            O::LocalGet { local_index } | O::LocalTee { local_index },
            O::I64Const { value },
            cmp @ (O::I64LtU | O::I64Ne),
            O::BrIf { relative_depth: 0 },
        ) => (*local_index, *value as u64, true, matches!(cmp, O::I64Ne)),
        _ => return exit_counted(ops, start, body),
    };
    let step = counter_step(body, local, wide)?;
    if equality {
        let init = initial_value(ops, start, local, wide)?;
        // init < limit, so the subtraction cannot wrap; step > 0.
        let span = limit
            .checked_sub(init)
            .filter(|s| *s > 0)
            .ok_or("the counter starts at or past its limit (`ne` would wrap around)")?;
        return match (span.checked_rem(step), span.checked_div(step)) {
            (Some(0), Some(iterations)) => Ok(iterations),
            _ => Err(
                "the step does not divide the distance to the limit (`ne` would wrap around)"
                    .into(),
            ),
        };
    }
    let max = if wide { u64::MAX } else { u64::from(u32::MAX) };
    if limit
        .checked_add(step)
        .is_none_or(|sum| sum > max.saturating_add(if wide { 0 } else { 1 }))
    {
        return Err("the counter could wrap around".into());
    }
    // step > 0 (a positive constant) and limit + step fits: no overflow.
    Ok(limit.div_ceil(step).saturating_add(1))
}

/// The step of the loop counter `local`: its only write in `body` is at nesting depth 0 and
/// adds a positive constant; and no branch but the body's last instruction repeats the loop.
fn counter_step(body: &[Operator<'_>], local: u32, wide: bool) -> Result<u64, String> {
    use Operator as O;
    let n = body.len();
    let mut depth = 0u32;
    let mut step: Option<u64> = None;
    for (k, op) in body.iter().enumerate() {
        match op {
            O::Block { .. } | O::Loop { .. } | O::If { .. } => depth = depth.saturating_add(1),
            O::End => depth = depth.saturating_sub(1),
            O::Br { relative_depth } | O::BrIf { relative_depth }
                if *relative_depth == depth && k.saturating_add(1) != n =>
            {
                return Err("another branch repeats the loop".into());
            }
            O::BrTable { targets } => {
                let all = targets
                    .targets()
                    .flatten()
                    .chain(std::iter::once(targets.default()));
                if all.into_iter().any(|t| t == depth) {
                    return Err("a br_table repeats the loop".into());
                }
            }
            O::LocalSet { local_index } | O::LocalTee { local_index } if *local_index == local => {
                if step.is_some() {
                    return Err(format!("local {local} is written more than once"));
                }
                if depth != 0 {
                    return Err(format!("local {local} is updated conditionally"));
                }
                let s = match (k.checked_sub(3).and_then(|j| body.get(j..k)), wide) {
                    (
                        Some(
                            [
                                O::LocalGet { local_index: g },
                                O::I32Const { value },
                                O::I32Add,
                            ],
                        ),
                        false,
                    ) if *g == local && *value > 0 => u64::from(*value as u32),
                    (
                        Some(
                            [
                                O::LocalGet { local_index: g },
                                O::I64Const { value },
                                O::I64Add,
                            ],
                        ),
                        true,
                    ) if *g == local && *value > 0 => *value as u64,
                    _ => {
                        return Err(format!(
                            "local {local} is not advanced by a positive constant"
                        ));
                    }
                };
                step = Some(s);
            }
            _ => {}
        }
    }
    step.ok_or_else(|| format!("local {local} never advances"))
}

/// A loop left when its counter reaches a constant: at nesting depth 0 of the body,
/// `local.get $i; const N; eq; br_if d` with `d ≥ 1` (out of the loop), `$i` advanced as in a
/// counted loop ([`counter_step`]) from a constant `C` ([`initial_value`]) with `S` dividing
/// `N - C`. The test runs on every iteration, so at most `(N - C) / S + 1` iterations run.
fn exit_counted(ops: &[Operator<'_>], start: usize, body: &[Operator<'_>]) -> Result<u64, String> {
    use Operator as O;
    let mut depth = 0u32;
    for (k, op) in body.iter().enumerate() {
        match op {
            O::Block { .. } | O::Loop { .. } | O::If { .. } => depth = depth.saturating_add(1),
            O::End => depth = depth.saturating_sub(1),
            O::BrIf { relative_depth } if depth == 0 && *relative_depth >= 1 => {
                let Some([O::LocalGet { local_index }, c, eq]) =
                    k.checked_sub(3).and_then(|j| body.get(j..k))
                else {
                    continue;
                };
                let (limit, wide) = match (c, eq) {
                    (O::I32Const { value }, O::I32Eq) => (u64::from(*value as u32), false),
                    (O::I64Const { value }, O::I64Eq) => (*value as u64, true),
                    _ => continue,
                };
                let step = counter_step(body, *local_index, wide)?;
                let init = initial_value(ops, start, *local_index, wide)?;
                let span = limit
                    .checked_sub(init)
                    .ok_or("the counter starts past its exit value")?;
                return match (span.checked_rem(step), span.checked_div(step)) {
                    (Some(0), Some(n)) => Ok(n.saturating_add(1)),
                    _ => Err("the step does not divide the distance to the exit value".into()),
                };
            }
            _ => {}
        }
    }
    Err("no counted test: neither ends with `local.get|tee $i; const N; lt_u|ne; br_if 0` nor exits on `$i == N`".into())
}

/// The constant `local` holds when the loop at `ops[start]` is entered: found walking back
/// through straight-line code of the enclosing blocks to a `const C; local.set|tee local`. A
/// write inside a nested construct (conditional), an `else` arm, or reaching an enclosing
/// `loop` (a previous iteration may have changed it) or the function start refuses.
pub fn initial_value(
    ops: &[Operator<'_>],
    start: usize,
    local: u32,
    wide: bool,
) -> Result<u64, String> {
    use Operator as O;
    let mut depth = 0u32;
    let mut j = start;
    while let Some(prev) = j.checked_sub(1) {
        j = prev;
        match ops.get(j) {
            Some(O::End) => depth = depth.saturating_add(1),
            Some(O::Block { .. } | O::If { .. }) if depth > 0 => depth = depth.saturating_sub(1),
            Some(O::Loop { .. }) if depth > 0 => depth = depth.saturating_sub(1),
            Some(O::Loop { .. }) => {
                return Err(format!(
                    "local {local} may change between iterations of an enclosing loop"
                ));
            }
            Some(O::Else) if depth == 0 => {
                return Err(format!("local {local} is set in an `if` arm"));
            }
            Some(O::LocalSet { local_index } | O::LocalTee { local_index })
                if *local_index == local =>
            {
                if depth > 0 {
                    return Err(format!("local {local} is initialised conditionally"));
                }
                return match (j.checked_sub(1).and_then(|k| ops.get(k)), wide) {
                    (Some(O::I32Const { value }), false) => Ok(u64::from(*value as u32)),
                    (Some(O::I64Const { value }), true) => Ok(*value as u64),
                    _ => Err(format!("local {local} does not start at a constant")),
                };
            }
            _ => {}
        }
    }
    Err(format!(
        "local {local} has no initial value before the loop"
    ))
}

/// The verdict on one loop of a defined function, located by its `loop` opcode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoopVerdict {
    /// Function index (imports first).
    pub func: u32,
    /// Byte offset of the `loop` opcode in the module.
    pub offset: usize,
    /// Most iterations of one entry into the loop (see [`loop_iterations`]), or why none is
    /// proven.
    pub iterations: Result<u64, String>,
}

/// Every loop of every defined function with its counted-loop verdict, in module order, so
/// tools can list each unbounded loop where [`static_bounds`] gives only the first reason.
/// A body that cannot be read is reported as one verdict at its offset. Deterministic.
pub fn loop_verdicts(module: &AdmittedModule) -> Vec<LoopVerdict> {
    let imported = module.imports.len() as u32;
    let mut out = Vec::new();
    let mut index = 0u32;
    for payload in Parser::new(0).parse_all(&module.bytes) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let func = imported.saturating_add(index);
        index = index.saturating_add(1);
        let mut ops = Vec::new();
        let mut offsets = Vec::new();
        let read = body.get_operators_reader().and_then(|mut r| {
            while !r.eof() {
                let (op, at) = r.read_with_offset()?;
                ops.push(op);
                offsets.push(at);
            }
            Ok(())
        });
        if let Err(e) = read {
            out.push(LoopVerdict {
                func,
                offset: usize::try_from(body.range().start).unwrap_or(usize::MAX),
                iterations: Err(e.to_string()),
            });
            continue;
        }
        let ends = matching_ends(&ops);
        for (i, op) in ops.iter().enumerate() {
            if let Operator::Loop { .. } = op {
                let end = ends.get(i).copied().unwrap_or(ops.len());
                out.push(LoopVerdict {
                    func,
                    offset: offsets
                        .get(i)
                        .map_or(0, |o| usize::try_from(*o).unwrap_or(usize::MAX)),
                    iterations: loop_iterations(&ops, i, end),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod loop_verdict_tests {
    use super::*;

    #[test]
    fn every_loop_gets_a_verdict_at_its_opcode_offset() {
        let wasm = wat::parse_str(
            r#"(module
                (func (export "run") (local $i i32)
                  (loop $l
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
                  (loop $forever (br $forever))))"#,
        )
        .unwrap();
        let module = crate::admit(&wasm, &Profile::default()).unwrap();
        let v = loop_verdicts(&module);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].iterations, Ok(11));
        assert!(v[1].iterations.is_err());
        assert_eq!(wasm[v[0].offset], 0x03, "offset names a `loop` opcode");
        assert_eq!(wasm[v[1].offset], 0x03, "offset names a `loop` opcode");
        assert!(v[0].offset < v[1].offset);
    }

    fn verdicts(body: &str) -> Vec<Result<u64, String>> {
        let wasm = wat::parse_str(format!(
            r#"(module (func (export "run") (param $p i32) (local $i i32) (local $w i64) {body}))"#
        ))
        .unwrap();
        let module = crate::admit(&wasm, &Profile::default()).unwrap();
        loop_verdicts(&module)
            .into_iter()
            .map(|v| v.iterations)
            .collect()
    }

    #[test]
    fn clangs_tee_and_ne_loop_is_counted_from_its_constant_start() {
        // for (i = 0; i < 64; i += 4): clang's unrolled shape.
        let loop_ = "(loop $l (local.tee $i (i32.add (local.get $i) (i32.const 4))) (i32.const 64) (i32.ne) (br_if $l))";
        assert_eq!(
            verdicts(&format!("(local.set $i (i32.const 0)) {loop_}")),
            vec![Ok(16)]
        );
        assert_eq!(
            verdicts(&format!("(local.set $i (i32.const 8)) {loop_}")),
            vec![Ok(14)]
        );
        // The start inside a block before the loop still dominates it.
        assert_eq!(
            verdicts(&format!(
                "(local.set $i (i32.const 0)) (block (nop)) {loop_}"
            )),
            vec![Ok(16)]
        );
        let wide = "(local.set $w (i64.const 0)) (loop $l (local.tee $w (i64.add (local.get $w) (i64.const 1))) (i64.const 5) (i64.ne) (br_if $l))";
        assert_eq!(verdicts(wide), vec![Ok(5)]);
        // A tee with lt_u needs no start value.
        let lt = "(loop $l (local.tee $i (i32.add (local.get $i) (i32.const 2))) (i32.const 10) (i32.lt_u) (br_if $l))";
        assert_eq!(verdicts(lt), vec![Ok(6)]);
    }

    #[test]
    fn nested_counted_loops_are_each_counted_and_the_export_is_bounded() {
        let body = "(loop $o
              (local.set $w (i64.const 0))
              (loop $in (local.tee $w (i64.add (local.get $w) (i64.const 1))) (i64.const 8) (i64.ne) (br_if $in))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $o (i32.lt_u (local.get $i) (i32.const 4))))";
        assert_eq!(verdicts(body), vec![Ok(5), Ok(8)]);
        let wasm = wat::parse_str(format!(
            r#"(module (func (export "run") (param $p i32) (local $i i32) (local $w i64) {body}))"#
        ))
        .unwrap();
        let module = crate::admit(&wasm, &Profile::default()).unwrap();
        let bounds = static_bounds(&module, &GasSchedule::default(), &Profile::default());
        assert!(
            matches!(bounds["run"], GasBound::Bounded { .. }),
            "{bounds:?}"
        );
    }

    #[test]
    fn a_loop_that_exits_when_its_counter_reaches_a_constant_is_counted() {
        // for (i = 0; i != 28; i += 4) if (p) break; — the exit test first, any back edge.
        let exit = |start: &str, limit: u32| {
            format!(
                "(block $out (local.set $i (i32.const {start})) (loop $l
                   (br_if $out (i32.eq (local.get $i) (i32.const {limit})))
                   (local.set $i (i32.add (local.get $i) (i32.const 4)))
                   (br_if $l (local.get $p))))"
            )
        };
        assert_eq!(verdicts(&exit("0", 28)), vec![Ok(8)]);
        assert_eq!(verdicts(&exit("8", 28)), vec![Ok(6)]);
        assert!(verdicts(&exit("2", 28))[0].is_err(), "4 does not divide 26");
        assert!(
            verdicts(&exit("32", 28))[0].is_err(),
            "starts past the exit"
        );
        // An exit test inside an `if` does not run on every iteration.
        let nested = "(block $out (local.set $i (i32.const 0)) (loop $l
            (if (local.get $p) (then (br_if $out (i32.eq (local.get $i) (i32.const 8)))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $l)))";
        assert!(verdicts(nested)[0].is_err());
    }

    #[test]
    fn an_ne_loop_that_could_wrap_or_whose_start_is_unknown_is_refused() {
        let loop_ = "(loop $l (local.tee $i (i32.add (local.get $i) (i32.const 4))) (i32.const 64) (i32.ne) (br_if $l))";
        for start in [
            "(local.set $i (i32.const 2))",  // 4 does not divide 62
            "(local.set $i (i32.const 64))", // starts at the limit
            "(local.set $i (local.get $p))", // not a constant
            "(if (local.get $p) (then (local.set $i (i32.const 0))))", // conditional
            "",                              // never set before the loop
        ] {
            let v = verdicts(&format!("{start} {loop_}"));
            assert!(v[0].is_err(), "{start}: {v:?}");
        }
        // Set before an enclosing loop: a previous outer iteration may have changed it.
        let nested =
            format!("(local.set $i (i32.const 0)) (loop $o {loop_} (br_if $o (local.get $p)))");
        assert!(verdicts(&nested)[1].is_err());
    }
}
