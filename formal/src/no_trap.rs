//! The "no trap for inputs satisfying P" lemma of an export with a precondition
//! ([`crate::precondition`]): for every input whose fields satisfy P, a call with the export's
//! static gas bound as its limit ends without a trap, under a host that answers `input_size`,
//! `input_copy` and `return_data` as Keel's does (each charging the most the schedule allows).
//! The proof is attempted by symbolic execution ([`crate::attempt`]); when it does not go
//! through (P does not exclude every trap, or the run is out of the tactic's reach) the lemma
//! stays `Admitted` and is listed as such.

use crate::attempt::{self, Attempt};
use crate::lemmas::{Lemma, LemmaCtx, Status, ident};
use crate::precondition::Precondition;
use keel_vm::{GasBound, HostFn};
use std::fmt::Write;

/// `input_env inp`: the host as a contract call with input bytes `inp` sees it. Other host
/// functions fail, so a run that needs them is not claimed trap-free.
pub fn input_env_definition() -> String {
    format!(
        "(* The host of a call whose input is the bytes [inp]: input_size, input_copy (dst, \
         offset, len) and return_data (ptr, len) as in ABI.md, each charging [hmax]. *)\n\
         Definition input_env (inp : list Z) : host_env := fun h args m pg =>\n  \
         if h =? {size} then HOk [VI32 (Z.of_nat (length inp))] m (hmax h)\n  \
         else if h =? {copy} then\n    match args with\n    \
         | [VI32 dst; VI32 off; VI32 len] =>\n        \
         if (off + len >? Z.of_nat (length inp)) || (dst + len >? pg * page) then HFail (hmax h)\n        \
         else HOk [] (fun a => if (dst <=? a) && (a <? dst + len)\n                        \
         then nth_z inp (off + a - dst) else m a) (hmax h)\n    \
         | _ => HFail (hmax h)\n    end\n  \
         else if h =? {ret} then\n    match args with\n    \
         | [VI32 p; VI32 len] => if p + len >? pg * page then HFail (hmax h) else HOk [] m (hmax h)\n    \
         | _ => HFail (hmax h)\n    end\n  \
         else HFail (hmax h).\n\n",
        size = HostFn::InputSize as u32,
        copy = HostFn::InputCopy as u32,
        ret = HostFn::ReturnData as u32,
    )
}

/// States the lemma into `out` (as an attempt, `Admitted` until [`attempt::settle`] proves
/// it) and returns it with its attempt; `None` for the attempt when there is nothing to try.
pub fn no_trap_lemma(
    c: &LemmaCtx<'_>,
    pre: &Precondition,
    out: &mut String,
) -> (Lemma, Option<Attempt>) {
    let id = ident(c.export);
    let name = format!("{id}_no_trap");
    let claim = format!(
        "`{}` does not trap on an input satisfying `{}`",
        c.export, pre.text
    );
    let GasBound::Bounded { compute, .. } = c.bound else {
        return (
            Lemma {
                name,
                kind: "no_trap",
                claim,
                status: Status::NotApplicable(
                    "no static gas bound to state the call's limit with".into(),
                ),
            },
            None,
        );
    };
    let vars = pre.byte_vars();
    let mut statement = format!("forall {} : Z,\n  ", vars.join(" "));
    for v in &vars {
        let _ = write!(statement, "0 <= {v} < 256 -> ");
    }
    let _ = write!(
        statement,
        "\n  {} ->\n  forall fuel, trapped (run_{id} (input_env [{}]) fuel {compute}) = None",
        pre.coq(),
        vars.join("; ")
    );
    let script = format!("intros. unfold run_{id}, init_{id}, entry_charge. symex_trap.");
    let _ = write!(
        out,
        "(* {claim}, within its static bound of {compute} gas. *)\n\
         Theorem {name} : {statement}.\n{}\n\n",
        attempt::placeholder(&name)
    );
    (
        Lemma {
            name: name.clone(),
            kind: "no_trap",
            claim,
            status: Status::Admitted(attempt::NOT_ATTEMPTED.into()),
        },
        Some(Attempt {
            lemma: name,
            statement,
            script,
        }),
    )
}
