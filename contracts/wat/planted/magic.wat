;; Planted bug for the concolic engine's tests (devtools/concolic): a trap reachable only when a
;; 32-bit input equals one magic value, which random inputs hit with probability 2^-32.
;;   check  input: x as u32 LE (exactly 4 bytes, else the call aborts); returns x (4 bytes).
;;          Traps with `unreachable` when x = 0x4b45454c ("LEEK" in memory).
(module
  (import "keel" "input_size" (func $input_size (result i32)))
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "abort" (func $abort (param i32 i32)))

  (memory (export "memory") 1 1)

  (data (i32.const 64) "magic: input must be 4 bytes")  ;; 28 bytes

  (func (export "check")
    (if (i32.ne (call $input_size) (i32.const 4))
      (then (call $abort (i32.const 64) (i32.const 28)) (unreachable)))
    (call $input_copy (i32.const 0) (i32.const 0) (i32.const 4))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x4b45454c))
      (then (unreachable)))
    (call $return_data (i32.const 0) (i32.const 4))))
