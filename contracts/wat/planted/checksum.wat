;; Planted bug for the concolic engine's tests (devtools/concolic): a division by zero behind a
;; checksum. Random inputs pass the checksum with probability 2^-32 and then still need a
;; 40-bit coincidence.
;;   parse  input: payload(12) fnv(4) (exactly 16 bytes, else the call aborts), where fnv is
;;          the 32-bit FNV-1a hash of the payload, u32 LE; a wrong hash aborts ("bad checksum").
;;          With a good hash and payload[0] = 0x7f ("command"), returns 1000 / (w - 0x01020304)
;;          as u32 LE, w being payload[4..8] as u32 LE: it divides by zero when w = 0x01020304.
;;          Any other payload returns the hash.
(module
  (import "keel" "input_size" (func $input_size (result i32)))
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "abort" (func $abort (param i32 i32)))

  (memory (export "memory") 1 1)

  (data (i32.const 64) "checksum: input must be 16 bytes")  ;; 32 bytes
  (data (i32.const 96) "bad checksum")                      ;; 12 bytes

  (func $fnv (param $p i32) (param $n i32) (result i32)
    (local $h i32) (local $i i32)
    (local.set $h (i32.const 0x811c9dc5))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $h (i32.mul
          (i32.xor (local.get $h) (i32.load8_u (i32.add (local.get $p) (local.get $i))))
          (i32.const 16777619)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $h))

  (func (export "parse")
    (local $h i32)
    (if (i32.ne (call $input_size) (i32.const 16))
      (then (call $abort (i32.const 64) (i32.const 32)) (unreachable)))
    (call $input_copy (i32.const 0) (i32.const 0) (i32.const 16))
    (local.set $h (call $fnv (i32.const 0) (i32.const 12)))
    (if (i32.ne (local.get $h) (i32.load (i32.const 12)))
      (then (call $abort (i32.const 96) (i32.const 12)) (unreachable)))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x7f))
      (then
        (i32.store (i32.const 32)
          (i32.div_u (i32.const 1000) (i32.sub (i32.load (i32.const 4)) (i32.const 0x01020304))))
        (call $return_data (i32.const 32) (i32.const 4))
        (return)))
    (i32.store (i32.const 32) (local.get $h))
    (call $return_data (i32.const 32) (i32.const 4))))
