//! Host calls from the interpreter: run concretely by the VM's own host functions (through
//! `keel_vm::engine::host_dispatch`), with the input functions modelled symbolically:
//! `input_size` gives the symbolic input length, `input_copy` symbolic input bytes (and records
//! its bounds check against the length). Every other symbolic argument is pinned, and memory the
//! host wrote loses its shadow.

use crate::expr::{self, BinOp, CmpOp, E, Expr};
use crate::machine::{Machine, Stop};
use crate::numeric::Val;
use crate::trace::FactKind;
use keel_vm::HostFn;
use keel_vm::engine::host_dispatch::{HostValue, call_host};
use keel_vm::host::HostFault;
use std::sync::Arc;

/// Runs host function `f` on `args`; returns its results.
pub fn call(m: &mut Machine<'_>, f: HostFn, args: Vec<Val>) -> Result<Vec<Val>, Stop> {
    if m.symbolic && f == HostFn::InputCopy {
        input_bounds_fact(m, &args);
    }
    let model = u256_model(m, f, &args);
    for a in &args {
        m.pin(a, 32);
    }
    let before: Vec<(u32, u8)> = m
        .mem
        .shadow
        .keys()
        .map(|k| (*k, m.mem.bytes.get(*k as usize).copied().unwrap_or(0)))
        .collect();
    let raw: Vec<i32> = args.iter().map(|a| a.bits as i32).collect();
    if m.metered && m.module.gas_global.is_some() {
        m.host.gas = m.gas_left();
    }
    let result = call_host(&mut m.host, &mut m.mem.bytes, f, &raw);
    if m.metered && m.module.gas_global.is_some() {
        let g = m.host.gas;
        m.set_gas(g);
    }
    let value = match result {
        Ok(v) => v,
        Err(fault) => {
            if let Some(site) = m.site_offset() {
                m.host.calls.fault_offset = Some(site);
            }
            return Err(match fault {
                HostFault::Trap(t) => Stop::Trap(t),
                HostFault::State(s) => Stop::Fatal(s),
            });
        }
    };
    for (k, old) in before {
        if m.mem.bytes.get(k as usize).copied() != Some(old) {
            m.mem.shadow.remove(&k);
        }
    }
    forget_outputs(m, f, &raw);
    let mut status = None;
    if let Some(u) = model {
        status = Some(u.status);
        if let (Some(word), Some(out)) = (u.word, raw.get(2)) {
            for i in 0..32u32 {
                if let Some(b) = expr::extract(8 * i + 7, 8 * i, word.clone()) {
                    m.mem.shadow.insert((*out as u32).wrapping_add(i), b);
                }
            }
        }
    }
    Ok(match value {
        HostValue::None => Vec::new(),
        HostValue::I32(v) => {
            let sym = if m.symbolic && f == HostFn::InputSize {
                Some(Arc::new(Expr::InputLen))
            } else {
                status
            };
            vec![Val {
                bits: u64::from(v as u32),
                sym,
            }]
        }
        HostValue::I64(v) => vec![Val::concrete(v as u64)],
    })
}

/// `input_copy(dst, offset, len)` traps unless `offset + len <= input length`: recorded as a
/// trap check over the symbolic length (computed in 64 bits, so it cannot wrap).
fn input_bounds_fact(m: &mut Machine<'_>, args: &[Val]) {
    let (Some(off), Some(len)) = (args.get(1), args.get(2)) else {
        return;
    };
    let wide = |v: &Val| expr::extend(false, 32, v.expr(32));
    let end = match (wide(off), wide(len)) {
        (Some(a), Some(b)) => expr::bin(BinOp::Add, a, b),
        _ => None,
    };
    let total = expr::extend(false, 32, Arc::new(Expr::InputLen));
    let held = (off.bits & 0xffff_ffff).saturating_add(len.bits & 0xffff_ffff)
        <= m.host.input.len() as u64;
    if let (Some(e), Some(t)) = (end, total)
        && let Some(c) = expr::cmp(CmpOp::LeU, e, t)
    {
        m.fact(c, held, FactKind::TrapCheck, u32::from(held));
    }
}

/// Memory a host function wrote: symbolic input bytes for `input_copy`, else no shadow.
fn forget_outputs(m: &mut Machine<'_>, f: HostFn, a: &[i32]) {
    let arg = |i: usize| a.get(i).copied().unwrap_or(0) as u32;
    match f {
        HostFn::InputCopy => {
            let (dst, off, len) = (arg(0), arg(1), arg(2));
            for k in 0..len {
                let at = dst.wrapping_add(k);
                if m.symbolic {
                    let byte = Arc::new(Expr::InputByte(off.wrapping_add(k)));
                    m.mem.shadow.insert(at, byte);
                } else {
                    m.mem.shadow.remove(&at);
                }
            }
        }
        HostFn::StorageRead => m.mem.forget(arg(2), arg(3)),
        HostFn::Caller | HostFn::SelfAddress => m.mem.forget(arg(0), 32),
        HostFn::ReturnDataCopy => m.mem.forget(arg(0), arg(2)),
        _ => {}
    }
}

/// The symbolic effect of a u256 intrinsic whose operands depend on the input: its status (or
/// comparison result) and, for add/sub, the result word.
struct U256Effect {
    status: E,
    word: Option<E>,
}

/// Models `u256_cmp`, `u256_add` and `u256_sub` over 256-bit expressions of the operands (the
/// token's balance checks branch on them); other intrinsics are run concretely only.
fn u256_model(m: &Machine<'_>, f: HostFn, args: &[Val]) -> Option<U256Effect> {
    if !matches!(f, HostFn::U256Cmp | HostFn::U256Add | HostFn::U256Sub) {
        return None;
    }
    let a = args.first()?.bits as u32;
    let b = args.get(1)?.bits as u32;
    if !m.mem.has_shadow(a, 32) && !m.mem.has_shadow(b, 32) {
        return None;
    }
    let x = m.mem.word(a, 32)?;
    let y = m.mem.word(b, 32)?;
    let i32k = |v: u64| expr::konst(32, v);
    if f == HostFn::U256Cmp {
        let lt = expr::cmp(CmpOp::LtU, x.clone(), y.clone())?;
        let eq = expr::cmp(CmpOp::Eq, x, y)?;
        let inner = expr::ite(eq, i32k(0), i32k(1))?;
        let status = expr::ite(lt, i32k(u64::from(u32::MAX)), inner)?;
        return Some(U256Effect { status, word: None });
    }
    let (word, wrapped) = if f == HostFn::U256Add {
        let sum = expr::bin(BinOp::Add, x.clone(), y)?;
        let w = expr::cmp(CmpOp::LtU, sum.clone(), x)?;
        (sum, w)
    } else {
        let diff = expr::bin(BinOp::Sub, x.clone(), y.clone())?;
        let w = expr::cmp(CmpOp::GtU, y, x)?;
        (diff, w)
    };
    Some(U256Effect {
        status: expr::from_bool(32, wrapped)?,
        word: Some(word),
    })
}
