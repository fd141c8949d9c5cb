//! The abstract semantics of one instruction (trusted; shared by checker and certifier).
//!
//! [`step`] proves the instruction's safety obligations in its pre-state (initialised operands,
//! in-bounds and permitted memory accesses, non-zero divisors, valid jump targets) and returns
//! the state on each feasible outgoing edge. Semantics follow solana-sbpf's SBPF v0
//! interpreter: 64-bit immediates are sign-extended, 32-bit add/sub/mul results are
//! sign-extended, other 32-bit results zero-extended, division is unsigned.

use crate::alu;
use crate::domain::{Env, Iv, Kind, Loc, Region, Rel, STACK_SIZE, Slot, State, Value, show};
use crate::isa::{Insn, OpKind, Program, allowed};
use crate::linear::{self, Effect};
use crate::property::{Property, Violation};
use crate::relations::{self, Fact};

fn violation(property: Property, detail: impl Into<String>) -> Violation {
    Violation {
        property,
        detail: detail.into(),
    }
}

/// Marks the visit of loop head `head`: forgets ghost facts about its previous visit and
/// records the current value of each `origins` location as the new reference.
pub fn enter_head(state: &mut State, head: u32, origins: &[Loc]) {
    let clear = |v: &mut Value| v.rels.retain(|r| r.head != head);
    state.regs.iter_mut().for_each(clear);
    for slot in state.stack.values_mut() {
        if let Slot::Spill(v) = slot {
            clear(v);
        }
    }
    for &origin in origins {
        let v = match origin {
            Loc::Reg(r) => state.regs.get_mut(usize::from(r)),
            Loc::Slot(s) => match state.stack.get_mut(&s) {
                Some(Slot::Spill(v)) => Some(v),
                _ => None,
            },
        };
        if let Some(v) = v
            && v.kind != Kind::Uninit
        {
            v.rels.push(Rel {
                head,
                origin,
                lo: 0,
                hi: 0,
            });
            v.rels.sort();
        }
    }
}

/// The abstract successors of the instruction at `pc` from `pre` (feasible edges only).
///
/// Errors: the first safety obligation that `pre` does not prove.
pub fn step(
    prog: &Program,
    pc: usize,
    pre: &State,
    env: &Env,
) -> Result<Vec<(usize, State)>, Violation> {
    let mut out = step_raw(prog, pc, pre, env)?;
    for (_, st) in &mut out {
        linear::settle(st, &env.narrow(st.len));
    }
    Ok(out)
}

fn step_raw(
    prog: &Program,
    pc: usize,
    pre: &State,
    env: &Env,
) -> Result<Vec<(usize, State)>, Violation> {
    let env = &env.narrow(pre.len);
    let insn =
        prog.slots.get(pc).copied().flatten().ok_or_else(|| {
            violation(Property::BadJump, "execution reaches the middle of an lddw")
        })?;
    let kind = allowed(insn.op).ok_or_else(|| {
        let property = if insn.op == crate::isa::OP_CALL {
            Property::ForbiddenSyscall
        } else {
            Property::ForbiddenInstruction
        };
        violation(
            property,
            format!("opcode {:#04x} (imm {})", insn.op, insn.imm),
        )
    })?;
    if insn.dst > 10 || insn.src > 10 {
        return Err(violation(
            Property::ForbiddenInstruction,
            format!("register r{} / r{} does not exist", insn.dst, insn.src),
        ));
    }
    // pc < slots <= MAX_SLOTS: cannot saturate; a saturated pc has no invariant anyway.
    let next = pc.saturating_add(if kind == OpKind::Lddw { 2 } else { 1 });
    let mut st = pre.clone();
    match kind {
        OpKind::Exit => {
            read_reg(pre, 0)?;
            return Ok(Vec::new());
        }
        OpKind::Ja => return Ok(vec![(jump_target(prog, pc, &insn)?, st)]),
        OpKind::Jump => return branch(prog, pc, &insn, pre, env),
        OpKind::Lddw => {
            let imm = i128::from(insn.imm as u64);
            let off = imm.checked_sub(env.rodata_vaddr);
            let v = if let Some(off) = off.filter(|o| (0..=env.rodata_len).contains(o)) {
                Value::ptr(Region::Rodata, Iv::k(off))
            } else {
                Value::scalar(Iv::k(imm))
            };
            linear::materialize(&mut st, Loc::Reg(insn.dst), env);
            write_reg(&mut st, insn.dst, v)?;
            linear::apply(&mut st, Effect::Clobber(Loc::Reg(insn.dst)));
        }
        OpKind::Alu64 | OpKind::Alu32 => {
            let dst_old = if insn.op & 0xf0 == 0xb0 {
                Value::uninit() // mov does not read its destination
            } else {
                read_reg(pre, insn.dst)?.clone()
            };
            let src = operand(pre, &insn)?;
            let v = if kind == OpKind::Alu64 {
                alu::alu64(insn.op & 0xf0, &dst_old, &src, env)?
            } else {
                alu::alu32(insn.op, &dst_old, &src, insn.imm, env)?
            };
            let x = Loc::Reg(insn.dst);
            let code = insn.op & 0xf0;
            let exact = |lo: Option<crate::domain::Aff>| {
                v.kind != Kind::Uninit && !v.iv.is_top(env) && lo == Some(v.iv.lo)
            };
            // x = x ± y (two registers) with exact representatives.
            let exact_sum = kind == OpKind::Alu64
                && (code == 0x00 || code == 0x10)
                && insn.uses_src_reg()
                && insn.src != insn.dst
                && exact(if code == 0x00 {
                    dst_old.iv.lo.plus(src.iv.lo)
                } else {
                    dst_old.iv.lo.minus(src.iv.hi)
                });
            let effect = if kind == OpKind::Alu64 && code == 0xb0 && insn.uses_src_reg() {
                Effect::Copy(x, Loc::Reg(insn.src))
            } else if kind == OpKind::Alu64
                && (code == 0x00 || code == 0x10)
                && src.kind == Kind::Scalar
                && let Some(k) = src.iv.constant()
                && let Some(k) = if code == 0x00 {
                    Some(k)
                } else {
                    k.checked_neg()
                }
            {
                // Only a shift of the representative by exactly k keeps equalities.
                if v.kind == dst_old.kind
                    && dst_old.iv.lo.plus(crate::domain::Aff::k(k)) == Some(v.iv.lo)
                {
                    Effect::AddConst(x, k)
                } else {
                    Effect::Clobber(x)
                }
            } else if kind == OpKind::Alu64
                && code == 0x00
                && insn.uses_src_reg()
                && let Some(k) = dst_old.iv.constant()
                && src.iv.lo.plus(crate::domain::Aff::k(k)) == Some(v.iv.lo)
                && (v.kind == src.kind || (v.kind == dst_old.kind && src.kind == Kind::Scalar))
            {
                // x = constant + y: a copy of y shifted by the constant.
                Effect::CopyPlus(x, Loc::Reg(insn.src), k)
            } else if exact_sum {
                // x = x ± y, representatives exact: the facts on x are rewritten below.
                Effect::Clobber(x)
            } else if kind == OpKind::Alu64
                && (code == 0x20 || code == 0x60)
                && !insn.uses_src_reg()
                && dst_old.kind == Kind::Scalar
                && let Some(k) = scale_of(code, insn.imm)
                && exact(dst_old.iv.lo.scale(k))
            {
                Effect::Scale(x, k)
            } else {
                Effect::Clobber(x)
            };
            // x = x ± y: what held of x_old, rewritten in terms of x_new and y.
            let sum = matches!(effect, Effect::Clobber(_)) && exact_sum;
            let fresh = if sum {
                let old = (dst_old.iv.lo == dst_old.iv.hi).then_some(dst_old.iv.lo);
                let s = if code == 0x00 { 1 } else { -1 };
                relations::add_var(pre, x, Loc::Reg(insn.src), s, old)
            } else {
                Vec::new()
            };
            if !matches!(effect, Effect::AddConst(..)) {
                linear::materialize(&mut st, x, env);
            }
            write_reg(&mut st, insn.dst, v)?;
            linear::apply(&mut st, effect);
            if sum && !relations::derive(&mut st, fresh, env) {
                return Ok(Vec::new());
            }
            relations::refresh(&mut st, x, env);
        }
        OpKind::Load(n) => {
            let base = read_reg(pre, insn.src)?;
            let v = load(pre, base, insn.off, n, env)?;
            let x = Loc::Reg(insn.dst);
            let effect = match spill_slot(base, insn.off, n, env) {
                Some(s) if matches!(pre.stack.get(&s), Some(Slot::Spill(_))) => {
                    Effect::Copy(x, Loc::Slot(s))
                }
                _ => Effect::Clobber(x),
            };
            linear::materialize(&mut st, x, env);
            write_reg(&mut st, insn.dst, v)?;
            linear::apply(&mut st, effect);
            relations::refresh(&mut st, x, env);
        }
        OpKind::StoreImm(n) | OpKind::StoreReg(n) => {
            let v = if let OpKind::StoreReg(_) = kind {
                read_reg(pre, insn.src)?.clone()
            } else {
                Value::scalar(Iv::k(i128::from(insn.imm)))
            };
            let base = read_reg(pre, insn.dst)?.clone();
            store(&mut st, &base, insn.off, n, v, env)?;
            if let Kind::Ptr(Region::Stack) = base.kind {
                linear::extend_fills(&mut st, Loc::Reg(insn.dst), insn.off, n);
                match spill_slot(&base, insn.off, n, env) {
                    Some(s) if kind == OpKind::StoreReg(8) => {
                        linear::materialize(&mut st, Loc::Slot(s), env);
                        linear::apply(&mut st, Effect::Copy(Loc::Slot(s), Loc::Reg(insn.src)));
                    }
                    _ => {
                        // `store` checked this span is inside the frame.
                        let (lo, end) = access_span(&base, insn.off, n, env)
                            .ok_or_else(|| violation(Property::OutOfBounds, "store span"))?;
                        for s in (lo / 8)..=(end.saturating_sub(1) / 8) {
                            linear::materialize(&mut st, Loc::Slot(s as u16), env);
                            linear::apply(&mut st, Effect::Clobber(Loc::Slot(s as u16)));
                        }
                    }
                }
            }
        }
    }
    Ok(vec![(next, st)])
}

/// The factor of `mul x, imm` / `lsh x, imm` when it is a positive scaling.
fn scale_of(code: u8, imm: i64) -> Option<i128> {
    match code {
        0x20 if imm > 0 => Some(i128::from(imm)),
        0x60 if (0..32).contains(&imm) => Some(1i128 << imm),
        _ => None,
    }
}

/// The slot an exact, aligned 8-byte stack access at `base + off` hits.
fn spill_slot(base: &Value, off: i16, n: u8, env: &Env) -> Option<u16> {
    let lo = env.min(base.iv.lo).checked_add(i128::from(off))?;
    let hi = env.max(base.iv.hi).checked_add(i128::from(off))?;
    (base.kind == Kind::Ptr(Region::Stack) && n == 8 && lo == hi && lo % 8 == 0)
        .then_some((lo / 8) as u16)
}

fn no_register(r: u8) -> Violation {
    violation(
        Property::ForbiddenInstruction,
        format!("register r{r} does not exist"),
    )
}

fn read_reg(st: &State, r: u8) -> Result<&Value, Violation> {
    let v = st.regs.get(usize::from(r)).ok_or_else(|| no_register(r))?;
    if v.kind == Kind::Uninit {
        return Err(violation(
            Property::UninitRegister,
            format!("r{r} is read but may be uninitialised"),
        ));
    }
    Ok(v)
}

fn write_reg(st: &mut State, r: u8, v: Value) -> Result<(), Violation> {
    if r == 10 {
        return Err(violation(
            Property::ForbiddenInstruction,
            "write to the frame pointer r10",
        ));
    }
    *st.regs
        .get_mut(usize::from(r))
        .ok_or_else(|| no_register(r))? = v;
    Ok(())
}

fn operand(st: &State, insn: &Insn) -> Result<Value, Violation> {
    if insn.uses_src_reg() {
        read_reg(st, insn.src).cloned()
    } else {
        Ok(Value::scalar(Iv::k(i128::from(insn.imm))))
    }
}

fn jump_target(prog: &Program, pc: usize, insn: &Insn) -> Result<usize, Violation> {
    crate::isa::jump_target(pc, insn.off)
        .filter(|&t| matches!(prog.slots.get(t), Some(Some(_))))
        .ok_or_else(|| {
            violation(
                Property::BadJump,
                format!(
                    "jump by {} from {pc} is outside the program or inside an lddw",
                    insn.off
                ),
            )
        })
}

/// The byte range `[lo, hi_end)` an access of `n` bytes at `base + off` may touch, after
/// proving it lies inside the region.
fn check_access(
    base: &Value,
    off: i16,
    n: u8,
    write: bool,
    env: &Env,
) -> Result<(Region, i128, i128), Violation> {
    let region = match base.kind {
        Kind::Ptr(r) => r,
        Kind::Uninit => {
            return Err(violation(
                Property::UninitRegister,
                "memory access through an uninitialised register",
            ));
        }
        Kind::Scalar => {
            return Err(violation(
                Property::NonPointerAccess,
                format!("memory access through {}", show(base)),
            ));
        }
    };
    if write && !region.writable() {
        return Err(violation(
            Property::ReadOnlyWrite,
            format!("store of {n} bytes into read-only {}", show(base)),
        ));
    }
    let d = i128::from(off);
    let size = env.region_size(region);
    let span = access_span(base, off, n, env);
    let lo_ok = span.is_some_and(|(lo, _)| lo >= 0);
    let hi_ok = base
        .iv
        .hi
        .plus(crate::domain::Aff::k(d.saturating_add(i128::from(n))))
        .is_some_and(|end| env.le(end, size));
    if !(lo_ok && hi_ok) {
        return Err(violation(
            Property::OutOfBounds,
            format!(
                "{}-byte {} at {}{d:+} exceeds {:?} of size {}{}",
                n,
                if write { "store" } else { "load" },
                show(base),
                region,
                crate::domain::show_iv(&Iv {
                    lo: size,
                    hi: size,
                    m: 0
                }),
                if size.l != 0 {
                    format!(" (input length L in [{}, {}])", env.len_min, env.len_max)
                } else {
                    String::new()
                },
            ),
        ));
    }
    let (lo, end) = span.ok_or_else(|| violation(Property::OutOfBounds, "access span"))?;
    Ok((region, lo, end))
}

/// The bytes `[lo, end)` an access of `n` bytes at `base + off` may touch (over every admitted
/// length), `None` if not representable.
fn access_span(base: &Value, off: i16, n: u8, env: &Env) -> Option<(i128, i128)> {
    let lo = env.min(base.iv.lo).checked_add(i128::from(off))?;
    let end = env.max(base.iv.hi).checked_add(i128::from(off))?;
    Some((lo, end.checked_add(i128::from(n))?))
}

/// The largest value an `n`-byte load yields.
fn width_max(n: u8) -> i128 {
    match n {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => i128::from(u64::MAX),
    }
}

fn load(st: &State, base: &Value, off: i16, n: u8, env: &Env) -> Result<Value, Violation> {
    let (region, lo, end) = check_access(base, off, n, false, env)?;
    let full = Value::scalar(Iv::range(0, width_max(n)));
    if region != Region::Stack {
        return Ok(full);
    }
    // From here offsets are inside the 4 KiB frame (`check_access`): no overflow.
    if n == 8 && end.checked_sub(lo) == Some(8) && lo % 8 == 0 {
        let slot = (lo / 8) as u16;
        if let Some(Slot::Spill(v)) = st.stack.get(&slot) {
            return Ok(v.clone());
        }
    }
    for byte in lo..end {
        let slot = (byte / 8) as u16;
        let bit = 1u8 << (byte % 8);
        if st.stack.get(&slot).map_or(0, Slot::mask) & bit == 0 && !linear::filled(st, byte, env) {
            return Err(violation(
                Property::UninitStack,
                format!(
                    "{n}-byte load at {}{off:+} reads stack byte {} (r10{:+}) which may be \
                     uninitialised",
                    show(base),
                    byte,
                    byte.saturating_sub(STACK_SIZE)
                ),
            ));
        }
    }
    Ok(full)
}

fn store(
    st: &mut State,
    base: &Value,
    off: i16,
    n: u8,
    v: Value,
    env: &Env,
) -> Result<(), Violation> {
    let (region, lo, end) = check_access(base, off, n, true, env)?;
    if region != Region::Stack {
        return Ok(());
    }
    // From here offsets are inside the 4 KiB frame (`check_access`): no overflow.
    let exact = end.checked_sub(lo) == Some(i128::from(n));
    if exact && n == 8 && lo % 8 == 0 {
        st.stack.insert((lo / 8) as u16, Slot::Spill(v));
        return Ok(());
    }
    for slot in (lo / 8)..=(end.saturating_sub(1) / 8) {
        let slot = slot as u16;
        let mut bits = 0u8;
        if exact {
            let first = i128::from(slot).saturating_mul(8);
            for byte in lo.max(first)..end.min(first.saturating_add(8)) {
                bits |= 1 << (byte % 8);
            }
        }
        // A store whose address is not exact initialises nothing for sure, but it does
        // destroy any spilled value it may overlap.
        let mask = st.stack.get(&slot).map_or(0, Slot::mask) | bits;
        if mask == 0 {
            st.stack.remove(&slot);
        } else {
            st.stack.insert(slot, Slot::Bytes(mask));
        }
    }
    Ok(())
}

fn branch(
    prog: &Program,
    pc: usize,
    insn: &Insn,
    pre: &State,
    env: &Env,
) -> Result<Vec<(usize, State)>, Violation> {
    let target = jump_target(prog, pc, insn)?;
    let a = read_reg(pre, insn.dst)?.clone();
    let b = operand(pre, insn)?;
    let code = insn.op & 0xf0;
    let (taken, fall) = alu::refine(code, &a, &b, env);
    let mut out = Vec::with_capacity(2);
    let next = pc.saturating_add(1);
    for (edge, (dest, refined)) in [(target, taken), (next, fall)].into_iter().enumerate() {
        let Some((ra, rb, len)) = refined else {
            continue;
        };
        let mut st = pre.clone();
        st.len = len;
        let set = |st: &mut State, r: u8, iv: Iv| {
            let Some(reg) = st.regs.get_mut(usize::from(r)) else {
                return;
            };
            let old = reg.iv;
            reg.iv = iv;
            let moved = iv.lo.c.checked_sub(old.lo.c);
            if moved.is_none_or(|d| d.unsigned_abs() >= 1 << 63) {
                // The representative moved by 2^64: equalities on it no longer hold.
                linear::apply(st, Effect::Clobber(Loc::Reg(r)));
            } else if iv != old {
                linear::propagate(st, Loc::Reg(r), &env.narrow(len));
            }
        };
        set(&mut st, insn.dst, ra);
        if insn.uses_src_reg() {
            set(&mut st, insn.src, rb);
        }
        let env_n = env.narrow(len);
        let mut fresh: Vec<Fact> = Vec::new();
        for (r, was) in [(insn.dst, &a), (insn.src, &b)] {
            let changed = st.regs.get(usize::from(r)).is_some_and(|v| v.iv != was.iv);
            if (r == insn.dst || insn.uses_src_reg()) && changed {
                fresh.extend(relations::unary(&st, Loc::Reg(r), &env_n));
            }
        }
        if insn.uses_src_reg() {
            fresh.extend(comparison(code, edge == 0, &st, insn.dst, insn.src, &env_n));
        }
        if !fresh.is_empty() && !relations::derive(&mut st, fresh, env) {
            continue;
        }
        out.push((dest, st));
    }
    Ok(out)
}

/// The fact a register comparison establishes on one edge (`taken` or fall-through), over the
/// representatives: only when both lie in the range the comparison reads them in (unsigned,
/// signed, or offsets in one region), so the fact is about the compared numbers.
fn comparison(code: u8, taken: bool, st: &State, x: u8, y: u8, env: &Env) -> Option<Fact> {
    let (vx, vy) = (st.regs.get(usize::from(x))?, st.regs.get(usize::from(y))?);
    let signed = matches!(code, 0x60 | 0x70 | 0xc0 | 0xd0);
    let (lo, hi) = if signed {
        (-(crate::domain::WORD / 2), crate::domain::WORD / 2 - 1)
    } else {
        (0, crate::domain::WORD - 1)
    };
    let inside = |v: &Value| {
        env.le(crate::domain::Aff::k(lo), v.iv.lo) && env.le(v.iv.hi, crate::domain::Aff::k(hi))
    };
    let comparable = match (vx.kind, vy.kind) {
        (Kind::Scalar, Kind::Scalar) => inside(vx) && inside(vy),
        (Kind::Ptr(p), Kind::Ptr(q)) => p == q,
        _ => false,
    };
    if !comparable || !relations::framed(Some(vx), env) || !relations::framed(Some(vy), env) {
        return None;
    }
    let (x, y) = (Loc::Reg(x), Loc::Reg(y));
    // (a - b <= k) or (x = y), per opcode and edge.
    let (a, b, k) = match (code, taken) {
        (0x10, true) | (0x50, false) => {
            return Fact::new(vec![(x, 1), (y, -1)], false, crate::domain::Aff::k(0));
        }
        (0x20 | 0x60, true) | (0xb0 | 0xd0, false) => (y, x, -1),
        (0x20 | 0x60, false) | (0xb0 | 0xd0, true) => (x, y, 0),
        (0x30 | 0x70, true) | (0xa0 | 0xc0, false) => (y, x, 0),
        (0x30 | 0x70, false) | (0xa0 | 0xc0, true) => (x, y, -1),
        _ => return None,
    };
    Fact::new(vec![(a, 1), (b, -1)], true, crate::domain::Aff::k(k))
}
