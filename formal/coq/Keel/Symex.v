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

(* [exec] under another name, which [cbn] does not unfold. *)
Definition exec_hold := exec.
Arguments exec_hold : simpl never.

(* A boolean comparison the run branched on, as the arithmetic fact [lia] reads. *)
Ltac symex_norm H :=
  first [ apply Z.eqb_eq in H | apply Z.eqb_neq in H | apply Z.ltb_lt in H
        | apply Z.ltb_ge in H | apply Z.leb_le in H | apply Z.leb_gt in H
        | rewrite Z.gtb_ltb in H; first [apply Z.ltb_lt in H | apply Z.ltb_ge in H]
        | rewrite Z.geb_leb in H; first [apply Z.leb_le in H | apply Z.leb_gt in H]
        | idtac ].

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
Ltac symex_simpl := cbn; unfold set_data, charge, with_stack, after_host, bool_val; cbn.

Ltac symex_step :=
  match goal with
  | |- True => exact I
  | |- context [match ?x with _ => _ end] =>
      lazymatch x with context [match _ with _ => _ end] => fail | _ => idtac end;
      lazymatch x with
      | context [exec_hold ?e ?p ?n ?c ?f ?s] =>
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
      | _ =>
          let E := fresh "E" in
          destruct x eqn:E; symex_host E; symex_norm E; try (exfalso; lia); symex_simpl
      end
  | |- _ => lia
  end.

(* For a goal [out_le (invoke env p fuel entry fi s) u] (hypothesis [host_bounded env hm]
   in context): runs every path to its end. *)
Ltac symex := unfold invoke, out_le; cbn; change exec with exec_hold; repeat symex_step.
