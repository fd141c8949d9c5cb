;; Benchmark kernel: iterative Fibonacci.
;;   fib  input: n as u32 LE (exactly 4 bytes); returns F(n) as u64 LE (8 bytes), computed with
;;        wrapping u64 addition (F(0) = 0, F(1) = 1). Cost is linear in n: one loop turn per step.
;; Reference: keel_contracts::reference::expected_fib.
(module
  (import "keel" "input_size" (func $input_size (result i32)))
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "abort" (func $abort (param i32 i32)))

  (memory (export "memory") 1 1)

  (data (i32.const 16) "fib: input must be n as 4 bytes u32 LE")  ;; 38 bytes

  (func (export "fib")
    (local $n i32) (local $a i64) (local $b i64) (local $t i64)
    (if (i32.ne (call $input_size) (i32.const 4))
      (then (call $abort (i32.const 16) (i32.const 38)) (unreachable)))
    (call $input_copy (i32.const 0) (i32.const 0) (i32.const 4))
    (local.set $n (i32.load (i32.const 0)))
    (local.set $b (i64.const 1))
    (block $done
      (loop $step
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $step)))
    (i64.store (i32.const 0) (local.get $a))
    (call $return_data (i32.const 0) (i32.const 8))))
