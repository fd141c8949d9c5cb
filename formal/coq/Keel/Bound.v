(* A static gas bound computed on the model's terms, and its soundness: whatever the inputs,
   the globals, the memory and the host's answers (each host call charging at most its
   scheduled maximum), a run charges at most the bound. Loops have no bound here (None);
   calls are followed to depth [d] (so recursion has none either). Generated lemmas apply
   [bound_sound] and compute the bound with vm_compute: proved by reflection, per export. *)
From Coq Require Import ZArith List Bool Lia.
From Keel Require Import Values Semantics.
Import ListNotations.
Open Scope Z_scope.
Arguments Z.max : simpl never.

Definition oadd (a b : option Z) : option Z :=
  match a, b with Some x, Some y => Some (Z.max 0 x + Z.max 0 y) | _, _ => None end.
Definition omax (a b : option Z) : option Z :=
  match a, b with Some x, Some y => Some (Z.max 0 (Z.max x y)) | _, _ => None end.

Section Bound.
Variable cb : nat -> option Z.   (* bound of a callee *)
Variable cbs : nat -> option Z.  (* bound of any table function of a signature *)
Variable hmax : Z -> Z.          (* most gas a host function may charge *)

Fixpoint bound_i (i : instr) : option Z :=
  match i with
  | Charge k => Some (Z.max 0 k)
  | HostCall h _ _ => Some (Z.max 0 (hmax h))
  | Block _ _ b => bound_c b
  | Loop _ _ _ => None
  | If _ _ t e => omax (bound_c t) (bound_c e)
  | Call fi => cb fi
  | CallIndirect sig => cbs sig
  | _ => Some 0
  end
with bound_c (c : code) : option Z :=
  match c with Stop => Some 0 | Seq i r => oadd (bound_i i) (bound_c r) end.
End Bound.

Definition elem_bound (p : prog) (cb : nat -> option Z) (sig : nat) (e : option nat) :
    option Z :=
  match e with
  | Some fi =>
      match nth_error (funcs p) fi with
      | Some fn => if Nat.eqb (fsig fn) sig then cb fi else Some 0
      | None => Some 0
      end
  | None => Some 0
  end.
Fixpoint sig_bound_l (p : prog) (cb : nat -> option Z) (sig : nat) (t : list (option nat)) :
    option Z :=
  match t with [] => Some 0 | e :: r => omax (elem_bound p cb sig e) (sig_bound_l p cb sig r) end.
Definition sig_bound (p : prog) (cb : nat -> option Z) (sig : nat) : option Z :=
  sig_bound_l p cb sig (table p).

Fixpoint bound_fn (p : prog) (hmax : Z -> Z) (d : nat) (fi : nat) : option Z :=
  match d with
  | O => None
  | S d' =>
      match nth_error (funcs p) fi with
      | None => None
      | Some fn => bound_c (bound_fn p hmax d') (sig_bound p (bound_fn p hmax d')) hmax (fbody fn)
      end
  end.

Definition host_bounded (env : host_env) (hmax : Z -> Z) : Prop :=
  forall h args m pg,
    match env h args m pg with HOk _ _ k | HFail k => k <= hmax h end.

Definition out_le (r : outcome) (u : Z) : Prop :=
  match state_of r with Some s => used s <= u | None => True end.

Lemma bound_c_seq : forall cb cbs hm i c,
  bound_c cb cbs hm (Seq i c) = oadd (bound_i cb cbs hm i) (bound_c cb cbs hm c).
Proof. reflexivity. Qed.
Lemma bound_i_block : forall cb cbs hm np nr b,
  bound_i cb cbs hm (Block np nr b) = bound_c cb cbs hm b.
Proof. reflexivity. Qed.
Lemma bound_i_if : forall cb cbs hm np nr t e,
  bound_i cb cbs hm (If np nr t e) = omax (bound_c cb cbs hm t) (bound_c cb cbs hm e).
Proof. reflexivity. Qed.

Lemma bound_i_call : forall cb cbs hm fi, bound_i cb cbs hm (Call fi) = cb fi.
Proof. reflexivity. Qed.
Lemma bound_i_indirect : forall cb cbs hm sig, bound_i cb cbs hm (CallIndirect sig) = cbs sig.
Proof. reflexivity. Qed.

Lemma bound_c_nonneg : forall cb cbs hm c b, bound_c cb cbs hm c = Some b -> 0 <= b.
Proof.
  intros cb cbs hm c b H; destruct c; [simpl in H|rewrite bound_c_seq in H].
  - inversion H; lia.
  - unfold oadd in H; destruct (bound_i cb cbs hm i), (bound_c cb cbs hm c); inversion H; lia.
Qed.

Lemma sig_bound_covers : forall p cb sig b fi fn i,
  sig_bound p cb sig = Some b ->
  nth_error (table p) i = Some (Some fi) -> nth_error (funcs p) fi = Some fn ->
  fsig fn = sig -> exists b', cb fi = Some b' /\ b' <= b.
Proof.
  intros p cb sig b fi fn i. unfold sig_bound. generalize (table p) as t. intros t.
  revert b i. induction t as [|e t IH]; intros b i Hb Hi Hf Hs.
  - destruct i; discriminate.
  - simpl in Hb. unfold omax in Hb.
    destruct (elem_bound p cb sig e) as [x|] eqn:Ex; [|discriminate].
    destruct (sig_bound_l p cb sig t) as [y|] eqn:Ey; [|discriminate].
    injection Hb as Hb. destruct i as [|i].
    + simpl in Hi. inversion Hi; subst. unfold elem_bound in Ex. rewrite Hf in Ex.
      rewrite (proj2 (Nat.eqb_eq _ _) eq_refl) in Ex. exists x. split; [exact Ex|lia].
    + simpl in Hi. destruct (IH y i eq_refl Hi Hf Hs) as [b' [H1 H2]].
      exists b'. split; [exact H1|lia].
Qed.

Ltac gas_lia := unfold out_le in *; simpl in *; lia.

(* Used gas only grows where the bound counts it: by a Charge, or by a host call. *)
Theorem bound_sound : forall env p hm, host_bounded env hm ->
  forall n c f s d b,
  bound_c (bound_fn p hm d) (sig_bound p (bound_fn p hm d)) hm c = Some b ->
  out_le (exec env p n c f s) (used s + b).
Proof.
  intros env p hm Henv n. induction n as [|n IH]; intros c f s d b Hb; [exact I|].
  destruct c as [|i rest]; simpl.
  { unfold out_le; simpl. pose proof (bound_c_nonneg _ _ _ _ _ Hb). lia. }
  rewrite bound_c_seq in Hb. unfold oadd in Hb.
  destruct (bound_i _ _ hm i) as [bi|] eqn:Ei; [|discriminate].
  destruct (bound_c _ _ hm rest) as [br|] eqn:Er; [|discriminate].
  injection Hb as Hb. subst b.
  pose proof (bound_c_nonneg _ _ _ _ _ Er) as Hbr.
  assert (Krest : forall f' s', used s' <= used s + Z.max 0 bi ->
            out_le (exec env p n rest f' s') (used s + (Z.max 0 bi + Z.max 0 br))).
  { intros f' s' Hs'. specialize (IH rest f' s' d br Er). unfold out_le in *.
    destruct (state_of _); lia. }
  (* The continuation after a structured construct whose body is bounded by [bi]. *)
  assert (Kblock : forall nr base r, out_le r (used s + bi) ->
            out_le (after_block nr base (exec env p n rest) r)
                   (used s + (Z.max 0 bi + Z.max 0 br))).
  { intros nr base r Hr. destruct r as [f1 s1|[|j] f1 s1|f1 s1|t s1|]; simpl;
      unfold out_le in Hr; simpl in Hr; try gas_lia; apply Krest; lia. }
  destruct i; try rewrite bound_i_block in Ei; try rewrite bound_i_if in Ei;
  try rewrite bound_i_call in Ei; try rewrite bound_i_indirect in Ei; simpl in Ei;
  cbv beta iota zeta;
  (* instructions executed by [step]: no gas *)
  try (match goal with |- context [step ?i ?f ?s] => destruct (step i f s) end;
       [apply Krest; simpl; lia | gas_lia]).
  - (* Charge *)
    inversion Ei; subst. destruct (_ >? _); [gas_lia|]. apply Krest. simpl. lia.
  - (* Block *)
    apply Kblock. apply (IH body f s d). assumption.
  - (* Loop *) discriminate.
  - (* If *)
    unfold omax in Ei.
    destruct (bound_c _ _ hm thn) as [bt|] eqn:Et; [|discriminate].
    destruct (bound_c _ _ hm els) as [be|] eqn:Ee; [|discriminate].
    inversion Ei; subst.
    destruct (stack f) as [|[z|z] st]; try gas_lia.
    apply Kblock. destruct (z =? 0).
    + pose proof (IH els (with_stack f st) s d be Ee). unfold out_le in *.
      destruct (state_of _); lia.
    + pose proof (IH thn (with_stack f st) s d bt Et). unfold out_le in *.
      destruct (state_of _); lia.
  - (* Br *) gas_lia.
  - (* BrIf *)
    destruct (stack f) as [|[z|z] st]; try gas_lia.
    destruct (z =? 0); [apply Krest; lia | gas_lia].
  - (* BrTable *) destruct (stack f) as [|[z|z] st]; gas_lia.
  - (* Return *) gas_lia.
  - (* Call *)
    destruct (nth_error (funcs p) f0) as [fn|] eqn:Ef; [|gas_lia].
    destruct d as [|d']; [discriminate|]. simpl in Ei. rewrite Ef in Ei.
    unfold call_then. destruct (Nat.ltb _ _); [gas_lia|].
    pose proof (IH (fbody fn) {| locals := rev (firstn (fnp fn) (stack f)) ++ flocals fn;
                                 stack := [] |} s d' bi Ei) as Hc.
    destruct (exec env p n (fbody fn) _ s) as [f1 s1|j f1 s1|f1 s1|t s1|];
      unfold out_le in Hc; simpl in Hc; try gas_lia; apply Krest; lia.
  - (* CallIndirect *)
    destruct (stack f) as [|[z|z] st]; try gas_lia.
    destruct (nth_error (table p) (Z.to_nat z)) as [[fi|]|] eqn:Et; try gas_lia.
    destruct (nth_error (funcs p) fi) as [fn|] eqn:Ef; [|gas_lia].
    destruct (Nat.eqb (fsig fn) sig) eqn:Es; [|gas_lia].
    apply Nat.eqb_eq in Es.
    destruct (sig_bound_covers _ _ _ _ _ _ _ Ei Et Ef Es) as [b' [Hb' Hle]].
    destruct d as [|d']; [discriminate|].
    simpl in Hb'. rewrite Ef in Hb'.
    unfold call_then. destruct (Nat.ltb _ _); [gas_lia|].
    pose proof (IH (fbody fn) {| locals := rev (firstn (fnp fn) st) ++ flocals fn;
                                 stack := [] |} s d' b' Hb') as Hc.
    destruct (exec env p n (fbody fn) _ s) as [f1 s1|j f1 s1|f1 s1|t s1|];
      unfold out_le in Hc; simpl in Hc; try gas_lia; apply Krest; lia.
  - (* HostCall *)
    inversion Ei; subst. destruct (Nat.ltb _ _); [gas_lia|].
    pose proof (Henv h (rev (firstn np (stack f))) (mem s) (pages s)) as He.
    destruct (env h _ _ _) as [res m k|k].
    + destruct (_ >? _); [gas_lia|]. apply Krest. simpl. lia.
    + destruct (_ >? _); gas_lia.
Qed.

(* What the generated gas lemmas use: a bound of [fi]'s body, plus the entry charge. *)
Corollary invoke_bound : forall env p hm d fi fn entry b fuel s,
  host_bounded env hm -> nth_error (funcs p) fi = Some fn ->
  bound_c (bound_fn p hm d) (sig_bound p (bound_fn p hm d)) hm (fbody fn) = Some b ->
  out_le (invoke env p fuel entry fi s) (used s + (Z.max 0 entry + b)).
Proof.
  intros env p hm d fi fn entry b fuel s Henv Ef Hb. unfold invoke. rewrite Ef.
  pose proof (bound_c_nonneg _ _ _ _ _ Hb).
  assert (Hseq : bound_c (bound_fn p hm d) (sig_bound p (bound_fn p hm d)) hm
                (Seq (Charge entry) (fbody fn)) = Some (Z.max 0 (Z.max 0 entry) + Z.max 0 b)).
  { rewrite bound_c_seq, Hb. reflexivity. }
  pose proof (bound_sound env p hm Henv fuel _ {| locals := flocals fn; stack := [] |} s d _ Hseq).
  unfold out_le in *. destruct (state_of _); lia.
Qed.

(* The check a generated gas lemma runs by vm_compute: the model's bound of entry point [fi]
   (callees followed to depth [d]), plus its entry charge, is at most [n]. *)
Definition check_bound (p : prog) (hm : Z -> Z) (d fi : nat) (entry n : Z) : bool :=
  match bound_fn p hm d fi with Some b => Z.leb (Z.max 0 entry + b) n | None => false end.

Theorem check_bound_sound : forall env p hm d fi entry n fuel s,
  host_bounded env hm -> check_bound p hm d fi entry n = true ->
  out_le (invoke env p fuel entry fi s) (used s + n).
Proof.
  intros env p hm d fi entry n fuel s Henv Hc. unfold check_bound in Hc.
  destruct (bound_fn p hm d fi) as [b|] eqn:E; [|discriminate].
  apply Z.leb_le in Hc. destruct d as [|d']; [discriminate|].
  simpl in E. destruct (nth_error (funcs p) fi) as [fn|] eqn:Ef; [|discriminate].
  pose proof (invoke_bound env p hm d' fi fn entry b fuel s Henv Ef E) as H.
  unfold out_le in *. destruct (state_of _); lia.
Qed.
