(* Symbolic execution by tactic, for generated lemmas that [Bound.v]'s loop-free bound cannot
   reach: counted loops whose counter starts at a constant unroll to a finite tree of runs.
   [symex] unfolds [exec] one instruction at a time at the point the run has reached (every
   other pending continuation stays folded as [exec_hold], so nothing is unrolled ahead of
   need), and case-splits on the first scrutinee the run is stuck on (a fuel variable, a gas
   check, a branch on an input-derived value, a host's answer). Leaves close by [lia]. The
   kernel checks the resulting proof term; the tactic is trusted for nothing. *)
From Coq Require Import ZArith List Bool Lia.
From Keel Require Import Values Semantics Bound.
Import ListNotations.
Open Scope Z_scope.

(* The [k]th of a list of bytes (0 past its end), by a [Z] index [cbn] computes with. *)
Fixpoint nth_z (l : list Z) (k : Z) : Z :=
  match l with [] => 0 | x :: r => if k =? 0 then x else nth_z r (k - 1) end.

(* [exec] under another name, which [cbn] does not unfold. *)
Definition exec_hold := exec.
Arguments exec_hold : simpl never.

(* The boolean comparisons the run branched on, as the arithmetic facts [lia] reads. *)
Ltac symex_norm :=
  repeat match goal with
  | H : (_ =? _) = true |- _ => apply Z.eqb_eq in H
  | H : (_ =? _) = false |- _ => apply Z.eqb_neq in H
  | H : (_ <? _) = true |- _ => apply Z.ltb_lt in H
  | H : (_ <? _) = false |- _ => apply Z.ltb_ge in H
  | H : (_ <=? _) = true |- _ => apply Z.leb_le in H
  | H : (_ <=? _) = false |- _ => apply Z.leb_gt in H
  | H : (_ >? _) = _ |- _ => rewrite Z.gtb_ltb in H
  | H : (_ >=? _) = _ |- _ => rewrite Z.geb_leb in H
  end.

(* A host answer the run branched on: the gas it charged is at most [hmax h]. *)
Ltac symex_host E :=
  try match type of E with
  | ?env ?h ?a ?m ?pg = _ =>
      match goal with
      | Hb : host_bounded env _ |- _ =>
          let H := fresh "Hhost" in pose proof (Hb h a m pg) as H; rewrite E in H; cbn in H
      end
  end.

(* Stores are rebuilt as flat records after every step, so terms stay the size of the code. *)
Ltac symex_simpl :=
  cbn; unfold set_data, charge, with_stack, after_host, bool_val, wrap, modulus, width; cbn.

Ltac symex_step :=
  match goal with
  | |- True => exact I
  | |- ?a = ?a => reflexivity
  (* a trap is reached: only an infeasible path may end here *)
  | |- Some _ = None => symex_norm; exfalso; Z.div_mod_to_equations; lia
  | |- context [match ?x with _ => _ end] =>
      lazymatch x with
      | exec_hold ?e ?p ?n ?c ?f ?s =>
          (* the run's next instruction (its arguments may hold stuck terms, e.g. memory) *)
          lazymatch n with
          | O => change (exec_hold e p O c f s) with OFuel; symex_simpl
          | S ?m =>
              first
                [ is_var m; change (exec_hold e p (S m) c f s) with (exec e p (S m) c f s);
                  symex_simpl; change exec with exec_hold
                (* a fuel term shared with pending continuations: any fuel will do *)
                | let k := fresh "k" in generalize (S m) as k; intro k ]
          | _ => is_var n; destruct n as [|n]
          end
      (* otherwise the innermost stuck scrutinee *)
      | context [match _ with _ => _ end] => fail
      | _ =>
          let E := fresh "E" in
          destruct x eqn:E; symex_host E; symex_norm; try (exfalso; lia); symex_simpl
      end
  | |- _ => lia
  end.

(* For a goal [out_le (invoke env p fuel entry fi s) u] (hypothesis [host_bounded env hm]
   in context): runs every path to its end. *)
Ltac symex := unfold invoke, out_le, state_of; cbn; change exec with exec_hold; repeat symex_step.

(* For a goal [trapped (invoke env p fuel entry fi s) = None]: every path must end without a
   trap; a path that traps is left as the unprovable goal [Some t = None], so the proof fails
   (never a false claim: the kernel checks what is left). *)
Ltac symex_trap := unfold invoke, trapped; cbn; change exec with exec_hold; repeat symex_step.
