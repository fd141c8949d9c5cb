;; Counter: a u64 stored under the storage key "count" (8 bytes LE; an absent key reads as 0).
;; Every entry takes no input and returns the counter's value after the call as 8 bytes LE.
;;   increment  count += 1 (aborts at u64::MAX instead of wrapping); emits "count_changed"
;;   get        returns count
;;   reset      removes the key (count = 0); emits "count_changed" only if it was non-zero
;; Event: topic "count_changed", data = new value, 8 bytes LE.
(module
  (import "keel" "storage_read" (func $storage_read (param i32 i32 i32 i32) (result i32)))
  (import "keel" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "keel" "storage_remove" (func $storage_remove (param i32 i32) (result i32)))
  (import "keel" "emit_event" (func $emit_event (param i32 i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "abort" (func $abort (param i32 i32)))

  (memory (export "memory") 1 1)

  ;; Memory layout: 0 key "count" (5), 16 value buffer (8), 32 topic (13), 64.. abort messages.
  (data (i32.const 0) "count")
  (data (i32.const 32) "count_changed")
  (data (i32.const 64) "counter: stored value is not 8 bytes")  ;; 36 bytes
  (data (i32.const 128) "counter: overflow")                     ;; 17 bytes

  ;; Current value; 0 when the key is absent. A value of another length is corrupt state.
  (func $load (result i64)
    (local $len i32)
    (local.set $len (call $storage_read (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8)))
    (if (i32.eq (local.get $len) (i32.const -1))
      (then (return (i64.const 0))))
    (if (i32.ne (local.get $len) (i32.const 8))
      (then (call $abort (i32.const 64) (i32.const 36)) (unreachable)))
    (i64.load (i32.const 16)))

  ;; Puts $v into the value buffer and returns it as the call's result.
  (func $return_value (param $v i64)
    (i64.store (i32.const 16) (local.get $v))
    (call $return_data (i32.const 16) (i32.const 8)))

  (func $changed
    (call $emit_event (i32.const 32) (i32.const 13) (i32.const 16) (i32.const 8)))

  (func (export "increment")
    (local $v i64)
    (local.set $v (call $load))
    (if (i64.eq (local.get $v) (i64.const -1))
      (then (call $abort (i32.const 128) (i32.const 17)) (unreachable)))
    (local.set $v (i64.add (local.get $v) (i64.const 1)))
    (call $return_value (local.get $v))
    (call $storage_write (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8))
    (call $changed))

  (func (export "get")
    (call $return_value (call $load)))

  (func (export "reset")
    (call $return_value (i64.const 0))
    ;; Removing (not writing 0) keeps the state small; the event only fires on a real change.
    (if (call $storage_remove (i32.const 0) (i32.const 5))
      (then (call $changed)))))
