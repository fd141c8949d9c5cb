(* Keel's integer profile: values and the i32/i64 operators with WebAssembly's wrap-around
   semantics. A value holds its unsigned representative in [0, 2^N); every operator reduces
   its result modulo 2^N explicitly (Z.modulo), signed views are taken where the spec says. *)
From Coq Require Import ZArith List Bool.
Import ListNotations.
Open Scope Z_scope.

Inductive ty := T32 | T64.

Inductive val := VI32 (z : Z) | VI64 (z : Z).

Definition width (t : ty) : Z := match t with T32 => 32 | T64 => 64 end.
Definition modulus (t : ty) : Z := 2 ^ width t.
Definition wrap (t : ty) (z : Z) : Z := z mod modulus t.
Definition signed (t : ty) (z : Z) : Z :=
  if z >=? 2 ^ (width t - 1) then z - modulus t else z.
Definition mk (t : ty) (z : Z) : val :=
  match t with T32 => VI32 (wrap T32 z) | T64 => VI64 (wrap T64 z) end.
Definition zero (t : ty) : val := mk t 0.
Definition bool_val (b : bool) : val := VI32 (if b then 1 else 0).

(* The operand of type [t] carried by [v]; None on a type mismatch (never for validated code). *)
Definition as_ty (t : ty) (v : val) : option Z :=
  match t, v with T32, VI32 z | T64, VI64 z => Some z | _, _ => None end.

Inductive trap :=
| Unreachable | DivByZero | IntOverflow | MemoryOutOfBounds | TableOutOfBounds
| IndirectTypeMismatch | OutOfGas | StackOverflow | Killed (code : Z) | HostTrap (fn : Z)
| Malformed.

Inductive unop := Clz | Ctz | Popcnt | Extend8S | Extend16S | Extend32S.
Inductive binop := Add | Sub | Mul | DivS | DivU | RemS | RemU | And | Or | Xor
                 | Shl | ShrS | ShrU | Rotl | Rotr.
Inductive relop := Eq | Ne | LtS | LtU | GtS | GtU | LeS | LeU | GeS | GeU.
(* i32.wrap_i64, i64.extend_i32_s, i64.extend_i32_u *)
Inductive cvtop := WrapI64 | ExtendI32S | ExtendI32U.

Definition bit_length (z : Z) : Z := if z =? 0 then 0 else Z.log2 z + 1.
Fixpoint popcount (n : nat) (z : Z) : Z :=
  match n with O => 0 | S n' => z mod 2 + popcount n' (z / 2) end.
Definition sext (bits : Z) (z : Z) : Z :=
  let x := z mod 2 ^ bits in if x >=? 2 ^ (bits - 1) then x - 2 ^ bits else x.

Definition eval_unop (t : ty) (op : unop) (a : Z) : Z :=
  match op with
  | Clz => width t - bit_length a
  | Ctz => if a =? 0 then width t else Z.log2 (Z.land a (- a))
  | Popcnt => popcount (Z.to_nat (width t)) a
  | Extend8S => wrap t (sext 8 a)
  | Extend16S => wrap t (sext 16 a)
  | Extend32S => wrap t (sext 32 a)
  end.

Definition eval_binop (t : ty) (op : binop) (a b : Z) : Z + trap :=
  let w := width t in
  let k := b mod w in
  match op with
  | Add => inl (wrap t (a + b))
  | Sub => inl (wrap t (a - b))
  | Mul => inl (wrap t (a * b))
  | DivU => if b =? 0 then inr DivByZero else inl (a / b)
  | RemU => if b =? 0 then inr DivByZero else inl (a mod b)
  | DivS =>
      if b =? 0 then inr DivByZero
      else if (signed t a =? - 2 ^ (w - 1)) && (signed t b =? -1) then inr IntOverflow
      else inl (wrap t (Z.quot (signed t a) (signed t b)))
  | RemS => if b =? 0 then inr DivByZero
            else inl (wrap t (Z.rem (signed t a) (signed t b)))
  | And => inl (Z.land a b)
  | Or => inl (Z.lor a b)
  | Xor => inl (Z.lxor a b)
  | Shl => inl (wrap t (Z.shiftl a k))
  | ShrU => inl (Z.shiftr a k)
  | ShrS => inl (wrap t (Z.shiftr (signed t a) k))
  | Rotl => inl (wrap t (Z.lor (Z.shiftl a k) (Z.shiftr a (w - k))))
  | Rotr => inl (wrap t (Z.lor (Z.shiftr a k) (Z.shiftl a (w - k))))
  end.

Definition eval_relop (t : ty) (op : relop) (a b : Z) : bool :=
  let sa := signed t a in let sb := signed t b in
  match op with
  | Eq => a =? b | Ne => negb (a =? b)
  | LtS => sa <? sb | LtU => a <? b | GtS => sa >? sb | GtU => a >? b
  | LeS => sa <=? sb | LeU => a <=? b | GeS => sa >=? sb | GeU => a >=? b
  end.

Definition eval_cvtop (op : cvtop) (v : val) : option val :=
  match op, v with
  | WrapI64, VI64 a => Some (VI32 (wrap T32 a))
  | ExtendI32S, VI32 a => Some (VI64 (wrap T64 (signed T32 a)))
  | ExtendI32U, VI32 a => Some (VI64 a)
  | _, _ => None
  end.
