(* Syntax and big-step semantics (with fuel) of Keel's integer profile after the metering pass.
   Structured control flow is kept as a tree: Block/Loop/If hold their bodies, Br k leaves k
   enclosing constructs. Metering appears as [Charge k] (the pass's charge sequence on the gas
   global, recognised by the translator) and [TrapWith] (its stack-overflow and kill helpers);
   the stack-height global is an ordinary global, as in the instrumented module. *)
From Coq Require Import ZArith List Bool.
From Keel Require Import Values.
Import ListNotations.
Open Scope Z_scope.

Inductive instr :=
| Const (v : val)
| Unop (t : ty) (op : unop)
| Binop (t : ty) (op : binop)
| Eqz (t : ty)
| Relop (t : ty) (op : relop)
| Cvt (op : cvtop)
| Drop | Select | Nop
| LocalGet (i : nat) | LocalSet (i : nat) | LocalTee (i : nat)
| GlobalGet (i : nat) | GlobalSet (i : nat)
(* [bytes] read or written at [offset] past the i32 address on the stack; [sgn]: sign-extend. *)
| Load (t : ty) (bytes : nat) (sgn : bool) (offset : Z)
| Store (t : ty) (bytes : nat) (offset : Z)
| MemorySize | MemoryGrow
| Unreach
| TrapWith (t : trap)
| Charge (k : Z)
| Block (np nr : nat) (body : code)
| Loop (np nr : nat) (body : code)
| If (np nr : nat) (thn els : code)
| Br (k : nat) | BrIf (k : nat) | BrTable (targets : list nat) (default : nat) | Return
| Call (f : nat) | CallIndirect (sig : nat)
| HostCall (h : Z) (np nr : nat)
with code := Stop | Seq (i : instr) (rest : code).

Fixpoint of_list (l : list instr) : code :=
  match l with [] => Stop | i :: r => Seq i (of_list r) end.

Record func := { fsig : nat; fnp : nat; fnr : nat; flocals : list val; fbody : code }.
(* [table]: each element the defined function it holds, or None when uninitialised. *)
Record prog := { funcs : list func; table : list (option nat) }.

Record frame := { locals : list val; stack : list val }.  (* stack: top first *)
Record store := {
  globals : list val; mem : Z -> Z; pages : Z; max_pages : Z;
  used : Z;     (* compute gas charged so far *)
  limit : Z;    (* the call's gas limit *)
  hosts : list Z (* host functions called, most recent first *)
}.

Inductive outcome :=
| ONormal (f : frame) (s : store)
| OBreak (k : nat) (f : frame) (s : store)
| OReturn (f : frame) (s : store)
| OTrap (t : trap) (s : store)
| OFuel.

(* A host function: given its arguments, the memory and its size, it answers results and a new
   memory, or fails; either way it names the gas it charged. The model records every call. *)
Inductive host_result := HOk (results : list val) (m : Z -> Z) (gas : Z) | HFail (gas : Z).
Definition host_env := Z -> list val -> (Z -> Z) -> Z -> host_result.

Definition page : Z := 65536.

Fixpoint read_le (m : Z -> Z) (a : Z) (n : nat) : Z :=
  match n with O => 0 | S n' => m a mod 256 + 256 * read_le m (a + 1) n' end.
Definition write_le (m : Z -> Z) (a : Z) (n : nat) (z : Z) : Z -> Z :=
  fun x => if (a <=? x) && (x <? a + Z.of_nat n) then (z / 2 ^ (8 * (x - a))) mod 256 else m x.

Fixpoint set_nth (l : list val) (i : nat) (v : val) : option (list val) :=
  match l, i with
  | [], _ => None
  | _ :: r, O => Some (v :: r)
  | x :: r, S i' => option_map (cons x) (set_nth r i' v)
  end.

Definition nonzero (v : val) : bool := match v with VI32 z | VI64 z => negb (z =? 0) end.

(* Effect of an instruction that neither branches, calls nor charges gas. *)
Inductive step_result :=
| SOk (f : frame) (g : list val) (m : Z -> Z) (pg : Z)
| STrap (t : trap).

Definition step (i : instr) (f : frame) (s : store) : step_result :=
  let st := stack f in
  let ok stk := SOk {| locals := locals f; stack := stk |} (globals s) (mem s) (pages s) in
  match i, st with
  | Const v, _ => ok (v :: st)
  | Unop t op, a :: r =>
      match as_ty t a with Some z => ok (mk t (eval_unop t op z) :: r) | None => STrap Malformed end
  | Binop t op, b :: a :: r =>
      match as_ty t a, as_ty t b with
      | Some x, Some y =>
          match eval_binop t op x y with inl z => ok (mk t z :: r) | inr e => STrap e end
      | _, _ => STrap Malformed
      end
  | Eqz t, a :: r =>
      match as_ty t a with Some z => ok (bool_val (z =? 0) :: r) | None => STrap Malformed end
  | Relop t op, b :: a :: r =>
      match as_ty t a, as_ty t b with
      | Some x, Some y => ok (bool_val (eval_relop t op x y) :: r)
      | _, _ => STrap Malformed
      end
  | Cvt op, a :: r =>
      match eval_cvtop op a with Some v => ok (v :: r) | None => STrap Malformed end
  | Drop, _ :: r => ok r
  | Select, c :: b :: a :: r => ok ((if nonzero c then a else b) :: r)
  | Nop, _ => ok st
  | LocalGet x, _ =>
      match nth_error (locals f) x with Some v => ok (v :: st) | None => STrap Malformed end
  | LocalSet x, v :: r =>
      match set_nth (locals f) x v with
      | Some l => SOk {| locals := l; stack := r |} (globals s) (mem s) (pages s)
      | None => STrap Malformed
      end
  | LocalTee x, v :: r =>
      match set_nth (locals f) x v with
      | Some l => SOk {| locals := l; stack := st |} (globals s) (mem s) (pages s)
      | None => STrap Malformed
      end
  | GlobalGet x, _ =>
      match nth_error (globals s) x with Some v => ok (v :: st) | None => STrap Malformed end
  | GlobalSet x, v :: r =>
      match set_nth (globals s) x v with
      | Some g => SOk {| locals := locals f; stack := r |} g (mem s) (pages s)
      | None => STrap Malformed
      end
  | Load t n sgn off, VI32 a :: r =>
      let ea := a + off in
      if ea + Z.of_nat n >? pages s * page then STrap MemoryOutOfBounds else
      let z := read_le (mem s) ea n in
      ok (mk t (if sgn then sext (8 * Z.of_nat n) z else z) :: r)
  | Store t n off, v :: VI32 a :: r =>
      let ea := a + off in
      match as_ty t v with
      | None => STrap Malformed
      | Some z =>
          if ea + Z.of_nat n >? pages s * page then STrap MemoryOutOfBounds else
          SOk {| locals := locals f; stack := r |} (globals s) (write_le (mem s) ea n z) (pages s)
      end
  | MemorySize, _ => ok (VI32 (pages s) :: st)
  | MemoryGrow, VI32 d :: r =>
      if pages s + d >? max_pages s then ok (VI32 (modulus T32 - 1) :: r)
      else SOk {| locals := locals f; stack := VI32 (pages s) :: r |} (globals s) (mem s)
             (pages s + d)
  | Unreach, _ => STrap Unreachable
  | TrapWith t, _ => STrap t
  | _, _ => STrap Malformed
  end.

Definition set_data (s : store) (g : list val) (m : Z -> Z) (pg : Z) : store :=
  {| globals := g; mem := m; pages := pg; max_pages := max_pages s; used := used s;
     limit := limit s; hosts := hosts s |}.
Definition charge (s : store) (k : Z) : store :=
  {| globals := globals s; mem := mem s; pages := pages s; max_pages := max_pages s;
     used := used s + k; limit := limit s; hosts := hosts s |}.
Definition after_host (s : store) (h : Z) (m : Z -> Z) (k : Z) : store :=
  {| globals := globals s; mem := m; pages := pages s; max_pages := max_pages s;
     used := used s + k; limit := limit s; hosts := h :: hosts s |}.
Definition with_stack (f : frame) (st : list val) : frame :=
  {| locals := locals f; stack := st |}.

(* A call of [fn]: arguments popped, the body run by [run], its results pushed, then [k]. *)
Definition call_then (run : code -> frame -> store -> outcome)
    (k : frame -> store -> outcome) (fn : func) (f : frame) (s : store) : outcome :=
  let args := firstn (fnp fn) (stack f) in
  if Nat.ltb (length args) (fnp fn) then OTrap Malformed s else
  match run (fbody fn) {| locals := rev args ++ flocals fn; stack := [] |} s with
  | ONormal f1 s1 | OBreak _ f1 s1 | OReturn f1 s1 =>
      k (with_stack f (firstn (fnr fn) (stack f1) ++ skipn (fnp fn) (stack f))) s1
  | r => r
  end.

(* What follows a structured construct whose body ended with [r]: [k] continues after it. *)
Definition after_block (nr : nat) (base : list val)
    (k : frame -> store -> outcome) (r : outcome) : outcome :=
  match r with
  | ONormal f1 s1 | OBreak O f1 s1 => k (with_stack f1 (firstn nr (stack f1) ++ base)) s1
  | OBreak (S j) f1 s1 => OBreak j f1 s1
  | r => r
  end.

Section Exec.
Variable env : host_env.
Variable p : prog.

Fixpoint exec (n : nat) (c : code) (f : frame) (s : store) {struct n} : outcome :=
  match n with
  | O => OFuel
  | S n =>
  match c with
  | Stop => ONormal f s
  | Seq i rest =>
  match i with
  | Charge k =>
      let s' := charge s k in
      if used s' >? limit s' then OTrap OutOfGas s' else exec n rest f s'
  | Block np nr body =>
      after_block nr (skipn np (stack f)) (exec n rest) (exec n body f s)
  | Loop np nr body =>
      let base := skipn np (stack f) in
      match exec n body f s with
      | ONormal f1 s1 => exec n rest (with_stack f1 (firstn nr (stack f1) ++ base)) s1
      | OBreak O f1 s1 => exec n c (with_stack f1 (firstn np (stack f1) ++ base)) s1
      | OBreak (S j) f1 s1 => OBreak j f1 s1
      | r => r
      end
  | If np nr thn els =>
      match stack f with
      | VI32 z :: st =>
          let f' := with_stack f st in
          after_block nr (skipn np st) (exec n rest)
            (exec n (if z =? 0 then els else thn) f' s)
      | _ => OTrap Malformed s
      end
  | Br k => OBreak k f s
  | BrIf k =>
      match stack f with
      | VI32 z :: st => if z =? 0 then exec n rest (with_stack f st) s
                        else OBreak k (with_stack f st) s
      | _ => OTrap Malformed s
      end
  | BrTable ts d =>
      match stack f with
      | VI32 z :: st => OBreak (nth (Z.to_nat z) ts d) (with_stack f st) s
      | _ => OTrap Malformed s
      end
  | Return => OReturn f s
  | Call fi =>
      match nth_error (funcs p) fi with
      | Some fn => call_then (exec n) (exec n rest) fn f s
      | None => OTrap Malformed s
      end
  | CallIndirect sig =>
      match stack f with
      | VI32 z :: st =>
          match nth_error (table p) (Z.to_nat z) with
          | Some (Some fi) =>
              match nth_error (funcs p) fi with
              | Some fn =>
                  if Nat.eqb (fsig fn) sig then call_then (exec n) (exec n rest) fn (with_stack f st) s
                  else OTrap IndirectTypeMismatch s
              | None => OTrap Malformed s
              end
          | _ => OTrap TableOutOfBounds s
          end
      | _ => OTrap Malformed s
      end
  | HostCall h np nr =>
      let args := firstn np (stack f) in
      if Nat.ltb (length args) np then OTrap Malformed s else
      match env h (rev args) (mem s) (pages s) with
      | HOk res m k =>
          let s' := after_host s h m k in
          if used s' >? limit s' then OTrap OutOfGas s'
          else exec n rest (with_stack f (rev (firstn nr res) ++ skipn np (stack f))) s'
      | HFail k =>
          let s' := after_host s h (mem s) k in
          if used s' >? limit s' then OTrap OutOfGas s' else OTrap (HostTrap h) s'
      end
  | _ =>
      match step i f s with
      | SOk f' g m pg => exec n rest f' (set_data s g m pg)
      | STrap t => OTrap t s
      end
  end
  end
  end.

End Exec.

(* One call of function [fi] as the host makes it: the per-call base charge first (call base and
   code size, from the schedule), then the body with zeroed locals and an empty stack. *)
Definition invoke (env : host_env) (p : prog) (fuel : nat) (entry_charge : Z) (fi : nat)
    (s : store) : outcome :=
  match nth_error (funcs p) fi with
  | None => OTrap Malformed s
  | Some fn =>
      exec env p fuel (Seq (Charge entry_charge) (fbody fn))
        {| locals := flocals fn; stack := [] |} s
  end.

Definition state_of (r : outcome) : option store :=
  match r with
  | ONormal _ s | OBreak _ _ s | OReturn _ s | OTrap _ s => Some s
  | OFuel => None
  end.
Definition trapped (r : outcome) : option trap :=
  match r with OTrap t _ => Some t | _ => None end.

(* Memory as the module's data segments lay it out (later segments win), zero elsewhere. *)
Fixpoint init_mem (segs : list (Z * list Z)) : Z -> Z :=
  match segs with
  | [] => fun _ => 0
  | (off, bytes) :: r =>
      let m := init_mem r in
      fun a => if (off <=? a) && (a <? off + Z.of_nat (length bytes))
               then nth (Z.to_nat (a - off)) bytes 0 else m a
  end.

(* A summary of an outcome for comparison with the VM: status (0 returned, 1 out of fuel,
   2+ a trap), gas used, and [n] bytes of memory from [a]. *)
Definition trap_code (t : trap) : Z :=
  match t with
  | Unreachable => 2 | DivByZero => 3 | IntOverflow => 4 | MemoryOutOfBounds => 5
  | TableOutOfBounds => 6 | IndirectTypeMismatch => 7 | OutOfGas => 8 | StackOverflow => 9
  | Killed _ => 10 | HostTrap _ => 11 | Malformed => 12
  end.
Fixpoint bytes_at (m : Z -> Z) (a : Z) (n : nat) : list Z :=
  match n with O => [] | S n' => m a :: bytes_at m (a + 1) n' end.
Definition summary (r : outcome) (a : Z) (n : nat) : list Z :=
  match r with
  | ONormal _ s | OBreak _ _ s | OReturn _ s => 0 :: used s :: bytes_at (mem s) a n
  | OTrap t s => [trap_code t; used s]
  | OFuel => [1]
  end.

(* The store a call starts from: the module's globals with the stack-height global holding the
   entry frame (as the host sets it), memory from the data segments, nothing charged yet. *)
Definition initial (g : list val) (stack_g : nat) (frame : Z) (data : list (Z * list Z))
    (pg mx lim : Z) : store :=
  {| globals := match set_nth g stack_g (VI32 frame) with Some g' => g' | None => g end;
     mem := init_mem data; pages := pg; max_pages := mx; used := 0; limit := lim;
     hosts := [] |}.
