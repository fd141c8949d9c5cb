//! The host ABI's functions as one table, linked by every engine tier.
//!
//! Each tier defines its own `host_fn!(linker, HostFn, |host, memory, args…| -> ret { body })`
//! (how arguments and memory reach [`crate::host::HostState`] differs per engine) and calls
//! `link_abi!(host_fn, linker)`: the list of functions, their arities and the `HostState`
//! method each calls exist once, here. A test in each tier checks the table against
//! [`crate::abi::HOST_FUNCTIONS`].

/// Expands `$cb!($l, HostFn, |h, m, args…| -> ret { … });` for every ABI function.
macro_rules! link_abi {
    ($cb:ident, $l:ident) => {{
        use $crate::abi::HostFn as F;
        $cb!($l, F::InputSize, |h, m| -> i32 { h.input_size(m) });
        $cb!($l, F::InputCopy, |h, m, d, o, n| -> () {
            h.input_copy(m, d, o, n)
        });
        $cb!($l, F::ReturnData, |h, m, p, n| -> () {
            h.return_data(m, p, n)
        });
        $cb!($l, F::StorageRead, |h, m, k, kl, v, vc| -> i32 {
            h.storage_read(m, k, kl, v, vc)
        });
        $cb!($l, F::StorageWrite, |h, m, k, kl, v, vl| -> () {
            h.storage_write(m, k, kl, v, vl)
        });
        $cb!($l, F::StorageRemove, |h, m, k, kl| -> i32 {
            h.storage_remove(m, k, kl)
        });
        $cb!($l, F::EmitEvent, |h, m, t, tl, d, dl| -> () {
            h.emit_event(m, t, tl, d, dl)
        });
        $cb!($l, F::Caller, |h, m, d| -> () { h.caller(m, d) });
        $cb!($l, F::SelfAddress, |h, m, d| -> () { h.self_address(m, d) });
        $cb!($l, F::BlockHeight, |h, m| -> i64 { h.block_height(m) });
        $cb!($l, F::BlockTimestamp, |h, m| -> i64 {
            h.block_timestamp(m)
        });
        $cb!($l, F::GasLeft, |h, m| -> i64 { h.gas_left(m) });
        $cb!($l, F::Abort, |h, m, p, n| -> () { h.abort(m, p, n) });
        for f in [
            F::U256Add,
            F::U256Sub,
            F::U256Mul,
            F::U256Div,
            F::U256Mod,
            F::U256Exp,
        ] {
            $cb!($l, f, |h, m, a, b, o| -> i32 {
                h.intrinsic(m, f, [a, b], o, $crate::intrinsics::u256_binary(f))
            });
        }
        for f in [F::U256AddMod, F::U256MulMod] {
            $cb!($l, f, |h, m, a, b, n, o| -> i32 {
                h.intrinsic(m, f, [a, b, n], o, $crate::intrinsics::u256_ternary(f))
            });
        }
        $cb!($l, F::U256Cmp, |h, m, a, b| -> i32 {
            h.compare(m, F::U256Cmp, a, b, $crate::intrinsics::u256_cmp)
        });
        $cb!($l, F::U256Shl, |h, m, a, s, o| -> () {
            h.shift(m, F::U256Shl, a, s, o, $crate::intrinsics::u256_shl)
        });
        $cb!($l, F::U256Shr, |h, m, a, s, o| -> () {
            h.shift(m, F::U256Shr, a, s, o, $crate::intrinsics::u256_shr)
        });
        for f in [F::FxMul, F::FxDiv, F::FxPow] {
            $cb!($l, f, |h, m, a, b, o| -> i32 {
                h.intrinsic(m, f, [a, b], o, $crate::intrinsics::fx_binary(f))
            });
        }
        for f in [F::FxSqrt, F::FxExp, F::FxLn] {
            $cb!($l, f, |h, m, a, o| -> i32 {
                h.intrinsic(m, f, [a], o, $crate::intrinsics::fx_unary(f))
            });
        }
        $cb!($l, F::NativeCall, |h, m, r, i, il, o, ol| -> i32 {
            h.native_call(m, r, i, il, o, ol)
        });
        $cb!($l, F::BlsVerify, |h, m, pk, msg, ml, sig| -> i32 {
            h.bls_verify(m, pk, msg, ml, sig)
        });
        $cb!($l, F::BlsAggregateVerify, |h,
                                         m,
                                         n,
                                         pks,
                                         msgs,
                                         sig|
         -> i32 {
            h.bls_aggregate_verify(m, n, pks, msgs, sig)
        });
        $cb!($l, F::BlsFastAggregateVerify, |h,
                                             m,
                                             n,
                                             pks,
                                             msg,
                                             ml,
                                             sig|
         -> i32 {
            h.bls_fast_aggregate_verify(m, n, pks, msg, ml, sig)
        });
        $cb!($l, F::Call, |h, m, hd, e, el, i, il, v, g, p, pl| -> i32 {
            h.call(m, hd, e, el, i, il, v, g, p, pl)
        });
        $cb!($l, F::ReturnDataSize, |h, m| -> i32 {
            h.return_data_size(m)
        });
        $cb!($l, F::ReturnDataCopy, |h, m, d, o, n| -> () {
            h.return_data_copy(m, d, o, n)
        });
        $cb!($l, F::HandleForContract, |h, m, a| -> i32 {
            h.handle_for_contract(m, a)
        });
        $cb!($l, F::HandleAttenuate, |h, m, hd, r| -> () {
            h.handle_attenuate(m, hd, r)
        });
        $cb!($l, F::HandleInfo, |h, m, hd, o| -> i32 {
            h.handle_info(m, hd, o)
        });
        $cb!($l, F::HandleCount, |h, m| -> i32 { h.handle_count(m) });
        $cb!($l, F::Poseidon, |h, m, c, i, n, o| -> i32 {
            h.poseidon(m, c, i, n, o)
        });
        $cb!($l, F::Groth16Verify, |h, m, c, vk, vl, p, i, n| -> i32 {
            h.groth16_verify(m, c, vk, vl, p, i, n)
        });
        $cb!($l, F::Randomness, |h, m, lo, hi, o| -> i32 {
            h.randomness(m, lo, hi, o)
        });
    }};
}

pub(super) use link_abi;
