// Contracts for the cross-contract call tests (WAT, with `keel.manifest` custom sections).
#![allow(dead_code)]

/// Manifest bytes as a WAT string literal body: version 1 then the given tags.
pub fn manifest(tags: &[u8]) -> String {
    let mut s = String::from("\\01");
    for t in tags {
        s.push_str(&format!("\\{t:02x}"));
    }
    s
}

pub const STORAGE: u8 = 0x01;
pub const EVENTS: u8 = 0x02;
pub const VALUE: u8 = 0x03;
pub const CALL_ANY: u8 = 0x04;
pub const REENTRANT: u8 = 0x0a;

const CALL_IMPORTS: &str = r#"
  (import "keel" "input_size" (func $input_size (result i32)))
  (import "keel" "input_copy" (func $input_copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $return_data (param i32 i32)))
  (import "keel" "storage_read" (func $storage_read (param i32 i32 i32 i32) (result i32)))
  (import "keel" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "keel" "abort" (func $abort (param i32 i32)))
  (import "keel" "caller" (func $caller (param i32)))
  (import "keel" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "keel" "return_data_size" (func $rd_size (result i32)))
  (import "keel" "return_data_copy" (func $rd_copy (param i32 i32 i32)))
  (import "keel" "handle_for_contract" (func $handle (param i32) (result i32)))
"#;

/// A script interpreter. Entry `run`; input is a sequence of ops:
/// `01 k v` write storage [k] = [v]; `02 addr(32) len(u16 LE) script` call `run` of addr with
/// that script, all gas, status ignored; `03` unreachable; `04` abort; `05 b` return data [b].
/// Manifest: storage, calls to any contract, re-entrancy opt-in.
pub fn node() -> String {
    format!(
        r#"(module {CALL_IMPORTS}
  (@custom "keel.manifest" "{m}")
  (memory 1 1)
  (data (i32.const 0) "run")
  (data (i32.const 64) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (data (i32.const 128) "node: abort")
  (func (export "run")
    (local $p i32) (local $end i32) (local $op i32) (local $len i32)
    (local.set $len (call $input_size))
    (call $input_copy (i32.const 1024) (i32.const 0) (local.get $len))
    (local.set $p (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $op (i32.load8_u (local.get $p)))
        (if (i32.eq (local.get $op) (i32.const 1))
          (then
            (call $storage_write (i32.add (local.get $p) (i32.const 1)) (i32.const 1)
                                 (i32.add (local.get $p) (i32.const 2)) (i32.const 1))
            (local.set $p (i32.add (local.get $p) (i32.const 3)))
            (br $next)))
        (if (i32.eq (local.get $op) (i32.const 2))
          (then
            (local.set $len (i32.load16_u (i32.add (local.get $p) (i32.const 33))))
            (drop (call $call (call $handle (i32.add (local.get $p) (i32.const 1)))
                              (i32.const 0) (i32.const 3)
                              (i32.add (local.get $p) (i32.const 35)) (local.get $len)
                              (i32.const 32) (i32.const 64) (i32.const 0) (i32.const 0)))
            (local.set $p (i32.add (i32.add (local.get $p) (i32.const 35)) (local.get $len)))
            (br $next)))
        (if (i32.eq (local.get $op) (i32.const 3)) (then (unreachable)))
        (if (i32.eq (local.get $op) (i32.const 4))
          (then (call $abort (i32.const 128) (i32.const 11))))
        (if (i32.eq (local.get $op) (i32.const 5))
          (then
            (call $return_data (i32.add (local.get $p) (i32.const 1)) (i32.const 1))
            (local.set $p (i32.add (local.get $p) (i32.const 2)))
            (br $next)))
        (unreachable)))))"#,
        m = manifest(&[STORAGE, CALL_ANY, REENTRANT])
    )
}

/// Entry `fwd`: writes [p] = [1], then calls `run` of the contract at input[0..32] with a
/// compute limit of input[32..40] (u64 LE), passing input[40..]; returns [status] ++ the
/// callee's return data. Entry `fwd_then_abort`: the same, then aborts.
pub fn proxy() -> String {
    format!(
        r#"(module {CALL_IMPORTS}
  (@custom "keel.manifest" "{m}")
  (memory 1 1)
  (data (i32.const 0) "run")
  (data (i32.const 72) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (data (i32.const 100) "p\01")
  (data (i32.const 128) "proxy: abort")
  (func $fwd
    (local $len i32) (local $status i32) (local $rd i32)
    (call $storage_write (i32.const 100) (i32.const 1) (i32.const 101) (i32.const 1))
    (local.set $len (call $input_size))
    (call $input_copy (i32.const 1024) (i32.const 0) (local.get $len))
    ;; gas vector at 64: compute from the input, the rest unlimited
    (i64.store (i32.const 64) (i64.load (i32.const 1056)))
    (local.set $status
      (call $call (call $handle (i32.const 1024)) (i32.const 0) (i32.const 3)
                  (i32.const 1064) (i32.sub (local.get $len) (i32.const 40))
                  (i32.const 32) (i32.const 64) (i32.const 0) (i32.const 0)))
    (i32.store8 (i32.const 4096) (local.get $status))
    (local.set $rd (call $rd_size))
    (call $rd_copy (i32.const 4097) (i32.const 0) (local.get $rd))
    (call $return_data (i32.const 4096) (i32.add (local.get $rd) (i32.const 1))))
  (func (export "fwd") (call $fwd))
  (func (export "fwd_then_abort")
    (call $fwd)
    (call $abort (i32.const 128) (i32.const 12))))"#,
        m = manifest(&[STORAGE, CALL_ANY])
    )
}

/// A vault: `credit` sets balance[input[0..32]] = input[32..40] (u64 LE; test setup); `withdraw` sends balance[caller]
/// to the caller (entry `receive`, the whole balance as value) and aborts if that call fails.
/// `checks_effects_interactions` zeroes the balance before the call, otherwise after it.
pub fn vault(checks_effects_interactions: bool, reentrant: bool) -> String {
    let mut tags = vec![STORAGE, VALUE, CALL_ANY];
    if reentrant {
        tags.push(REENTRANT);
    }
    let (before, after) = if checks_effects_interactions {
        (
            "(call $storage_write (i32.const 0) (i32.const 32) (i32.const 200) (i32.const 8))",
            "",
        )
    } else {
        (
            "",
            "(call $storage_write (i32.const 0) (i32.const 32) (i32.const 200) (i32.const 8))",
        )
    };
    format!(
        r#"(module {CALL_IMPORTS}
  (@custom "keel.manifest" "{m}")
  (memory 1 1)
  (data (i32.const 100) "receive")
  (data (i32.const 120) "vault: payout failed")
  (data (i32.const 64) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (func (export "credit")
    (call $input_copy (i32.const 0) (i32.const 0) (i32.const 40))
    (call $storage_write (i32.const 0) (i32.const 32) (i32.const 32) (i32.const 8)))
  (func (export "withdraw")
    (call $caller (i32.const 0))
    (i64.store (i32.const 32) (i64.const 0))
    (drop (call $storage_read (i32.const 0) (i32.const 32) (i32.const 32) (i32.const 8)))
    (if (i64.eqz (i64.load (i32.const 32))) (then (return)))
    ;; value: the balance as u256 LE at 300
    (i64.store (i32.const 300) (i64.load (i32.const 32)))
    {before}
    (if (call $call (call $handle (i32.const 0)) (i32.const 100) (i32.const 7)
                    (i32.const 0) (i32.const 0) (i32.const 300) (i32.const 64)
                    (i32.const 0) (i32.const 0))
      (then (call $abort (i32.const 120) (i32.const 20))))
    {after}))"#,
        m = manifest(&tags)
    )
}

/// The attacker: `attack` (input: vault address) records the vault and calls its `withdraw`;
/// `receive` re-enters `withdraw` up to 3 times. Opted in to re-entrancy (the vault calls
/// back into it while `attack` is on the stack).
pub fn attacker() -> String {
    format!(
        r#"(module {CALL_IMPORTS}
  (@custom "keel.manifest" "{m}")
  (memory 1 1)
  (data (i32.const 100) "withdraw")
  (data (i32.const 110) "v")
  (data (i32.const 111) "n")
  (data (i32.const 64) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")
  (func $withdraw
    (drop (call $call (call $handle (i32.const 0)) (i32.const 100) (i32.const 8)
                      (i32.const 0) (i32.const 0) (i32.const 32) (i32.const 64)
                      (i32.const 0) (i32.const 0))))
  (func (export "attack")
    (call $input_copy (i32.const 0) (i32.const 0) (i32.const 32))
    (call $storage_write (i32.const 110) (i32.const 1) (i32.const 0) (i32.const 32))
    (call $withdraw))
  (func (export "receive")
    (drop (call $storage_read (i32.const 110) (i32.const 1) (i32.const 0) (i32.const 32)))
    (i32.store8 (i32.const 200) (i32.const 0))
    (drop (call $storage_read (i32.const 111) (i32.const 1) (i32.const 200) (i32.const 1)))
    (if (i32.lt_u (i32.load8_u (i32.const 200)) (i32.const 3))
      (then
        (i32.store8 (i32.const 200) (i32.add (i32.load8_u (i32.const 200)) (i32.const 1)))
        (call $storage_write (i32.const 111) (i32.const 1) (i32.const 200) (i32.const 1))
        (call $withdraw)))))"#,
        m = manifest(&[STORAGE, CALL_ANY, REENTRANT])
    )
}
