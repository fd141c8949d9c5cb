//! The translated program as Coq source: one `Definition` per function, the program record,
//! the initial globals and the data segments.

use crate::ir::{Func, HelperTrap, Instr, Program, Ty, Val};
use std::fmt::Write;

/// Coq text of a value.
pub fn val(v: Val) -> String {
    match v {
        Val::I32(z) => format!("VI32 {z}"),
        Val::I64(z) => format!("VI64 {z}"),
    }
}

fn ty(t: Ty) -> &'static str {
    match t {
        Ty::T32 => "T32",
        Ty::T64 => "T64",
    }
}

fn zero(t: Ty) -> &'static str {
    match t {
        Ty::T32 => "VI32 0",
        Ty::T64 => "VI64 0",
    }
}

/// Writes `body` as `(of_list [...])`, one instruction per line, nested bodies indented.
fn code(out: &mut String, body: &[Instr], indent: usize) {
    if body.is_empty() {
        out.push_str("Stop");
        return;
    }
    out.push_str("(of_list [\n");
    for (k, i) in body.iter().enumerate() {
        out.extend(std::iter::repeat_n(' ', indent.saturating_add(2)));
        instr(out, i, indent.saturating_add(2));
        out.push_str(if k.saturating_add(1) == body.len() {
            "\n"
        } else {
            ";\n"
        });
    }
    out.extend(std::iter::repeat_n(' ', indent));
    out.push_str("])");
}

fn instr(out: &mut String, i: &Instr, indent: usize) {
    // Writing into a String cannot fail.
    let _ = match i {
        Instr::Const(v) => write!(out, "Const ({})", val(*v)),
        Instr::Unop(t, op) => write!(out, "Unop {} {op}", ty(*t)),
        Instr::Binop(t, op) => write!(out, "Binop {} {op}", ty(*t)),
        Instr::Eqz(t) => write!(out, "Eqz {}", ty(*t)),
        Instr::Relop(t, op) => write!(out, "Relop {} {op}", ty(*t)),
        Instr::Cvt(op) => write!(out, "Cvt {op}"),
        Instr::Drop => write!(out, "Drop"),
        Instr::Select => write!(out, "Select"),
        Instr::Nop => write!(out, "Nop"),
        Instr::LocalGet(x) => write!(out, "LocalGet {x}%nat"),
        Instr::LocalSet(x) => write!(out, "LocalSet {x}%nat"),
        Instr::LocalTee(x) => write!(out, "LocalTee {x}%nat"),
        Instr::GlobalGet(x) => write!(out, "GlobalGet {x}%nat"),
        Instr::GlobalSet(x) => write!(out, "GlobalSet {x}%nat"),
        Instr::Load {
            ty: t,
            bytes,
            signed,
            offset,
        } => write!(out, "Load {} {bytes}%nat {signed} {offset}", ty(*t)),
        Instr::Store {
            ty: t,
            bytes,
            offset,
        } => write!(out, "Store {} {bytes}%nat {offset}", ty(*t)),
        Instr::MemorySize => write!(out, "MemorySize"),
        Instr::MemoryGrow => write!(out, "MemoryGrow"),
        Instr::Unreachable => write!(out, "Unreach"),
        Instr::TrapWith(HelperTrap::StackOverflow) => write!(out, "TrapWith StackOverflow"),
        Instr::TrapWith(HelperTrap::Killed(c)) => write!(out, "TrapWith (Killed ({c}))"),
        Instr::Charge(k) => write!(out, "Charge {k}"),
        Instr::Block {
            params,
            results,
            body,
        } => {
            let _ = write!(out, "Block {params}%nat {results}%nat ");
            code(out, body, indent);
            Ok(())
        }
        Instr::Loop {
            params,
            results,
            body,
        } => {
            let _ = write!(out, "Loop {params}%nat {results}%nat ");
            code(out, body, indent);
            Ok(())
        }
        Instr::If {
            params,
            results,
            then,
            els,
        } => {
            let _ = write!(out, "If {params}%nat {results}%nat ");
            code(out, then, indent);
            out.push(' ');
            code(out, els, indent);
            Ok(())
        }
        Instr::Br(k) => write!(out, "Br {k}%nat"),
        Instr::BrIf(k) => write!(out, "BrIf {k}%nat"),
        Instr::BrTable(ts, d) => {
            let ts: Vec<String> = ts.iter().map(|t| format!("{t}%nat")).collect();
            write!(out, "BrTable [{}] {d}%nat", ts.join("; "))
        }
        Instr::Return => write!(out, "Return"),
        Instr::Call(f) => write!(out, "Call {f}%nat"),
        Instr::CallIndirect(s) => write!(out, "CallIndirect {s}%nat"),
        Instr::HostCall {
            host,
            params,
            results,
        } => write!(out, "HostCall {host} {params}%nat {results}%nat"),
    };
}

fn func(out: &mut String, name: &str, f: &Func) {
    let locals: Vec<&str> = f.locals.iter().map(|t| zero(*t)).collect();
    let _ = write!(
        out,
        "Definition {name} : func := {{|\n  fsig := {}%nat; fnp := {}%nat; fnr := {}%nat;\n  flocals := [{}];\n  fbody := ",
        f.sig,
        f.params,
        f.results,
        locals.join("; ")
    );
    code(out, &f.body, 2);
    out.push_str(" |}.\n\n");
}

/// The program's definitions: `f0`… `fN`, `program`, `globals0`, `data0`, `pages0`, `max_pages0`.
pub fn program(p: &Program) -> String {
    let mut out = String::new();
    for (k, f) in p.funcs.iter().enumerate() {
        func(&mut out, &format!("f{k}"), f);
    }
    let names: Vec<String> = (0..p.funcs.len()).map(|k| format!("f{k}")).collect();
    let table: Vec<String> = p
        .table
        .iter()
        .map(|e| e.map_or("None".into(), |f| format!("Some {f}%nat")))
        .collect();
    let _ = writeln!(
        out,
        "Definition program : prog := {{| funcs := [{}]; table := [{}] |}}.\n",
        names.join("; "),
        table.join("; ")
    );
    let globals: Vec<String> = p.globals.iter().map(|v| format!("({})", val(*v))).collect();
    let _ = writeln!(
        out,
        "Definition globals0 : list val := [{}].",
        globals.join("; ")
    );
    let data: Vec<String> = p
        .data
        .iter()
        .map(|(off, bytes)| {
            let b: Vec<String> = bytes.iter().map(u8::to_string).collect();
            format!("({off}, [{}])", b.join("; "))
        })
        .collect();
    let _ = writeln!(
        out,
        "Definition data0 : list (Z * list Z) := [{}].",
        data.join("; ")
    );
    let _ = writeln!(out, "Definition pages0 : Z := {}.", p.memory_pages);
    let _ = writeln!(out, "Definition max_pages0 : Z := {}.", p.memory_max_pages);
    let _ = writeln!(
        out,
        "Definition stack_global : nat := {}%nat.",
        p.stack_global
    );
    out
}
