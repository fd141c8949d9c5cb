(* Which host functions a run can call. The translator hands over a certificate: a set F of
   functions closed under calls (direct, and indirect through any table entry of the called
   signature) whose bodies only call hosts in S. [closed] checks it by computation; [hosts_sound]
   shows that then every host call a run of any function of F makes is in S. *)
From Coq Require Import ZArith List Bool Lia.
From Keel Require Import Values Semantics.
Import ListNotations.
Open Scope Z_scope.

Section Ok.
Variable p : prog.
Variable F : list nat.
Variable S : list Z.

Definition in_F (fi : nat) : bool := existsb (Nat.eqb fi) F.
Definition in_S (h : Z) : bool := existsb (Z.eqb h) S.
Definition sig_ok (sig : nat) : bool :=
  forallb (fun e => match e with
    | Some fi => match nth_error (funcs p) fi with
                 | Some fn => if Nat.eqb (fsig fn) sig then in_F fi else true
                 | None => true
                 end
    | None => true
    end) (table p).

Fixpoint ok_i (i : instr) : bool :=
  match i with
  | HostCall h _ _ => in_S h
  | Call fi => in_F fi
  | CallIndirect sig => sig_ok sig
  | Block _ _ b | Loop _ _ b => ok_c b
  | If _ _ t e => ok_c t && ok_c e
  | _ => true
  end
with ok_c (c : code) : bool :=
  match c with Stop => true | Seq i r => ok_i i && ok_c r end.

Definition closed : bool :=
  forallb (fun fi => match nth_error (funcs p) fi with
                     | Some fn => ok_c (fbody fn)
                     | None => false
                     end) F.
End Ok.

Definition covers (S : list Z) (s0 s1 : store) : Prop :=
  forall h, In h (hosts s1) -> In h (hosts s0) \/ In h S.
Definition out_covers (S : list Z) (s0 : store) (r : outcome) : Prop :=
  match state_of r with Some s1 => covers S s0 s1 | None => True end.

Lemma covers_refl : forall S s, covers S s s.
Proof. unfold covers; auto. Qed.
Lemma covers_trans : forall S a b c, covers S a b -> covers S b c -> covers S a c.
Proof. unfold covers; intros S a b c H1 H2 h Hh. destruct (H2 h Hh); auto. Qed.

Lemma ok_c_seq : forall p F S i c, ok_c p F S (Seq i c) = ok_i p F S i && ok_c p F S c.
Proof. reflexivity. Qed.
Lemma ok_i_block : forall p F S np nr b, ok_i p F S (Block np nr b) = ok_c p F S b.
Proof. reflexivity. Qed.
Lemma ok_i_loop : forall p F S np nr b, ok_i p F S (Loop np nr b) = ok_c p F S b.
Proof. reflexivity. Qed.
Lemma ok_i_if : forall p F S np nr t e, ok_i p F S (If np nr t e) = ok_c p F S t && ok_c p F S e.
Proof. reflexivity. Qed.

Lemma closed_body : forall p F S fi fn, closed p F S = true -> in_F F fi = true ->
  nth_error (funcs p) fi = Some fn -> ok_c p F S (fbody fn) = true.
Proof.
  intros p F S fi fn Hc Hf Hn. unfold closed in Hc. rewrite forallb_forall in Hc.
  unfold in_F in Hf. apply existsb_exists in Hf. destruct Hf as [x [Hx Heq]].
  apply Nat.eqb_eq in Heq. subst x. specialize (Hc fi Hx). rewrite Hn in Hc. exact Hc.
Qed.

Lemma sig_ok_in : forall p F sig i fi fn, sig_ok p F sig = true ->
  nth_error (table p) i = Some (Some fi) -> nth_error (funcs p) fi = Some fn ->
  fsig fn = sig -> in_F F fi = true.
Proof.
  intros p F sig i fi fn H Hi Hn Hs. unfold sig_ok in H. rewrite forallb_forall in H.
  specialize (H (Some fi) (nth_error_In _ _ Hi)). simpl in H. rewrite Hn in H.
  rewrite (proj2 (Nat.eqb_eq _ _) Hs) in H. exact H.
Qed.

Ltac cov := unfold out_covers; simpl; try (unfold covers; simpl; intros; tauto).

Theorem hosts_sound : forall env p F S, closed p F S = true ->
  forall n c f s, ok_c p F S c = true -> out_covers S s (exec env p n c f s).
Proof.
  intros env p F S Hcl n. induction n as [|n IH]; intros c f s Hc; [exact I|].
  destruct c as [|i rest]; simpl; [cov|].
  rewrite ok_c_seq in Hc. apply andb_prop in Hc. destruct Hc as [Hi Hr].
  assert (Krest : forall f' s', covers S s s' -> out_covers S s (exec env p n rest f' s')).
  { intros f' s' Hs'. specialize (IH rest f' s' Hr). unfold out_covers in *.
    destruct (state_of _); eauto using covers_trans. }
  assert (Kblock : forall nr base r, out_covers S s r ->
            out_covers S s (after_block nr base (exec env p n rest) r)).
  { intros nr base r H. destruct r as [f1 s1|[|j] f1 s1|f1 s1|t s1|]; simpl;
      unfold out_covers in H; simpl in H; auto. }
  destruct i; try rewrite ok_i_block in Hi; try rewrite ok_i_loop in Hi;
  try rewrite ok_i_if in Hi; cbv beta iota zeta;
  try (match goal with |- context [step ?i ?f ?s] => destruct (step i f s) end;
       [apply Krest; unfold covers; simpl; auto | cov]).
  - (* Charge *) destruct (_ >? _); [cov|]. apply Krest. unfold covers; simpl; auto.
  - (* Block *) apply Kblock. apply IH. exact Hi.
  - (* Loop *)
    pose proof (IH body f s Hi) as Hb.
    destruct (exec env p n body f s) as [f1 s1|[|j] f1 s1|f1 s1|t s1|]; unfold out_covers in Hb;
      simpl in Hb; cov; try exact Hb.
    + apply Krest. exact Hb.
    + pose proof (IH (Seq (Loop np nr body) rest)
        (with_stack f1 (firstn np (stack f1) ++ skipn np (stack f))) s1) as H2.
      rewrite ok_c_seq, ok_i_loop, Hi, Hr in H2. specialize (H2 eq_refl).
      unfold out_covers in *. destruct (state_of _); eauto using covers_trans.
  - (* If *)
    apply andb_prop in Hi. destruct Hi as [Ht He].
    destruct (stack f) as [|[z|z] st]; cov.
    apply Kblock. destruct (z =? 0); apply IH; assumption.
  - (* Br *) cov.
  - destruct (stack f) as [|[z|z] st]; cov. destruct (z =? 0); [apply Krest, covers_refl|cov].
  - destruct (stack f) as [|[z|z] st]; cov.
  - cov.
  - (* Call *)
    destruct (nth_error (funcs p) f0) as [fn|] eqn:Ef; [|cov].
    unfold call_then. destruct (Nat.ltb _ _); [cov|].
    pose proof (IH (fbody fn) {| locals := rev (firstn (fnp fn) (stack f)) ++ flocals fn;
                                 stack := [] |} s (closed_body _ _ _ _ _ Hcl Hi Ef)) as Hb.
    destruct (exec env p n (fbody fn) _ s) as [f1 s1|j f1 s1|f1 s1|t s1|];
      unfold out_covers in Hb; simpl in Hb; cov; try exact Hb; apply Krest; exact Hb.
  - (* CallIndirect *)
    destruct (stack f) as [|[z|z] st]; cov.
    destruct (nth_error (table p) (Z.to_nat z)) as [[fi|]|] eqn:Et; cov.
    destruct (nth_error (funcs p) fi) as [fn|] eqn:Ef; [|cov].
    destruct (Nat.eqb (fsig fn) sig) eqn:Es; [|cov].
    apply Nat.eqb_eq in Es.
    pose proof (sig_ok_in _ _ _ _ _ _ Hi Et Ef Es) as HF.
    unfold call_then. destruct (Nat.ltb _ _); [cov|].
    pose proof (IH (fbody fn) {| locals := rev (firstn (fnp fn) st) ++ flocals fn;
                                 stack := [] |} s (closed_body _ _ _ _ _ Hcl HF Ef)) as Hb.
    destruct (exec env p n (fbody fn) _ s) as [f1 s1|j f1 s1|f1 s1|t s1|];
      unfold out_covers in Hb; simpl in Hb; cov; try exact Hb; apply Krest; exact Hb.
  - (* HostCall *)
    unfold in_S in Hi. apply existsb_exists in Hi. destruct Hi as [x [Hx Heq]].
    apply Z.eqb_eq in Heq. subst x.
    destruct (Nat.ltb _ _); [cov|].
    destruct (env h _ _ _) as [res m k|k].
    + destruct (_ >? _).
      * cov. unfold covers; simpl. intros h' [E|E]; subst; auto.
      * apply Krest. unfold covers; simpl. intros h' [E|E]; subst; auto.
    + destruct (_ >? _); cov; unfold covers; simpl; intros h' [E|E]; subst; auto.
Qed.

(* What the generated capability lemmas use: a run of an entry point in F. *)
Corollary invoke_hosts : forall env p F S fuel entry fi s,
  closed p F S = true -> in_F F fi = true ->
  out_covers S s (invoke env p fuel entry fi s).
Proof.
  intros env p F S fuel entry fi s Hcl Hf. unfold invoke.
  destruct (nth_error (funcs p) fi) as [fn|] eqn:Ef; [|cov].
  destruct fuel as [|n]; [exact I|]. simpl. cbv beta iota zeta.
  destruct (_ >? _); [cov|].
  pose proof (hosts_sound env p F S Hcl n (fbody fn) {| locals := flocals fn; stack := [] |}
    (charge s entry) (closed_body _ _ _ _ _ Hcl Hf Ef)) as H.
  exact H.
Qed.
