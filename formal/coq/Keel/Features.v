(* Feature gates. A profile version switches opcode classes and host functions off by a kill
   set (Keel's kills.rs: the metering pass replaces a killed item by the `killed` trap; codes as
   Killed::code). [gate] is that replacement on the model's terms. A contract admitted under a
   gate (it uses nothing the gate kills) runs identically under every later gate that only adds
   features (kills a subset): [gate_extends]. The gas schedule version is recorded beside the
   gate: charges are the metering pass's, so a version that only adds features keeps them. *)
From Coq Require Import ZArith List Bool.
From Keel Require Import Values Semantics.
Import ListNotations.
Open Scope Z_scope.

Record gate := { profile_version : Z; schedule_version : Z; killed : list Z }.

(* The kill code of the item an instruction uses, if it belongs to a gated class. *)
Definition gate_code (i : instr) : option Z :=
  match i with
  | Binop _ (DivS | DivU | RemS | RemU) => Some 0
  | CallIndirect _ => Some 1
  | MemoryGrow => Some 2
  | BrTable _ _ => Some 3
  | Unop _ (Extend8S | Extend16S | Extend32S) => Some 4
  | Binop _ Mul => Some 5
  | HostCall h _ _ => Some (256 + h)
  | _ => None
  end.

Definition enabled (g : gate) (i : instr) : bool :=
  match gate_code i with Some c => negb (existsb (Z.eqb c) (killed g)) | None => true end.

Definition kill_code (i : instr) : Z := match gate_code i with Some c => c | None => 0 end.

Fixpoint gate_i (g : gate) (i : instr) : instr :=
  if enabled g i then
    match i with
    | Block np nr b => Block np nr (gate_c g b)
    | Loop np nr b => Loop np nr (gate_c g b)
    | If np nr t e => If np nr (gate_c g t) (gate_c g e)
    | _ => i
    end
  else TrapWith (Killed (kill_code i))
with gate_c (g : gate) (c : code) : code :=
  match c with Stop => Stop | Seq i r => Seq (gate_i g i) (gate_c g r) end.

Definition gate_func (g : gate) (fn : func) : func :=
  {| fsig := fsig fn; fnp := fnp fn; fnr := fnr fn; flocals := flocals fn;
     fbody := gate_c g (fbody fn) |}.
Definition gate_prog (g : gate) (p : prog) : prog :=
  {| funcs := map (gate_func g) (funcs p); table := table p |}.

Fixpoint uses_i (g : gate) (i : instr) : bool :=
  negb (enabled g i) ||
  match i with
  | Block _ _ b | Loop _ _ b => uses_c g b
  | If _ _ t e => uses_c g t || uses_c g e
  | _ => false
  end
with uses_c (g : gate) (c : code) : bool :=
  match c with Stop => false | Seq i r => uses_i g i || uses_c g r end.

(* Admitted under [g]: no function uses anything [g] kills. *)
Definition admitted (g : gate) (p : prog) : bool :=
  forallb (fun fn => negb (uses_c g (fbody fn))) (funcs p).

(* [g'] only adds features to [g]: everything it kills, [g] killed too. *)
Definition extends (g g' : gate) : bool :=
  forallb (fun c => existsb (Z.eqb c) (killed g)) (killed g').

Scheme instr_ind2 := Induction for instr Sort Prop
with code_ind2 := Induction for code Sort Prop.

Lemma extends_in : forall g g' c, extends g g' = true ->
  existsb (Z.eqb c) (killed g') = true -> existsb (Z.eqb c) (killed g) = true.
Proof.
  intros g g' c He Hc. unfold extends in He. rewrite forallb_forall in He.
  apply existsb_exists in Hc. destruct Hc as [x [Hx Hq]]. apply Z.eqb_eq in Hq. subst x.
  exact (He c Hx).
Qed.

Lemma enabled_ext : forall g g' i, extends g g' = true -> enabled g i = true ->
  enabled g' i = true.
Proof.
  intros g g' i He H. unfold enabled in *. destruct (gate_code i) as [c|]; [|reflexivity].
  destruct (existsb (Z.eqb c) (killed g')) eqn:E; [|reflexivity].
  rewrite (extends_in _ _ _ He E) in H. discriminate.
Qed.

Lemma uses_i_eq : forall g i, uses_i g i = negb (enabled g i) ||
  match i with
  | Block _ _ b | Loop _ _ b => uses_c g b
  | If _ _ t e => uses_c g t || uses_c g e
  | _ => false
  end.
Proof. intros g i; destruct i; reflexivity. Qed.

Lemma gate_i_eq : forall g i, gate_i g i =
  if enabled g i then
    match i with
    | Block np nr b => Block np nr (gate_c g b)
    | Loop np nr b => Loop np nr (gate_c g b)
    | If np nr t e => If np nr (gate_c g t) (gate_c g e)
    | _ => i
    end
  else TrapWith (Killed (kill_code i)).
Proof. intros g i; destruct i; reflexivity. Qed.

Lemma gate_unused : forall g g', extends g g' = true ->
  forall c, uses_c g c = false -> gate_c g' c = c.
Proof.
  intros g g' He.
  apply (code_ind2
    (fun i => uses_i g i = false -> gate_i g' i = i)
    (fun c => uses_c g c = false -> gate_c g' c = c));
  intros; rewrite ?uses_i_eq in *;
  repeat match goal with
  | H : (_ || _) = false |- _ => apply orb_false_iff in H; destruct H
  end;
  try (rewrite gate_i_eq;
       match goal with H : negb (enabled g ?i) = false |- _ =>
         apply negb_false_iff in H; rewrite (enabled_ext _ _ _ He H) end;
       cbv beta iota);
  try reflexivity;
  try (simpl in *; repeat match goal with
       | H : (_ || _) = false |- _ => apply orb_false_iff in H; destruct H
       end; f_equal; auto).
  all: try (match goal with H : _ -> gate_i _ ?i = ?i |- gate_i _ ?i = ?i => apply H; rewrite <- uses_i_eq; assumption end).
Qed.

Theorem gate_extends : forall g g' p, admitted g p = true -> extends g g' = true ->
  gate_prog g' p = p.
Proof.
  intros g g' [fs t] Ha He. unfold gate_prog; simpl. f_equal.
  unfold admitted in Ha; simpl in Ha. rewrite forallb_forall in Ha.
  rewrite <- (map_id fs) at 2. apply map_ext_in. intros [s np nr l b] Hin.
  specialize (Ha _ Hin). simpl in Ha. apply negb_true_iff in Ha.
  unfold gate_func; simpl. f_equal. exact (gate_unused g g' He b Ha).
Qed.
