/* Keel host ABI v1 — the `keel` import namespace, for contracts written in C.
 *
 * Compile and link with the shared runtime exactly as contracts/GUIDE.md shows (the command
 * build.rs runs: wasm32 MVP, no libc, fixed stack and memory, c/runtime/keel_runtime.c).
 *
 * Conventions (see vm/core/ABI.md for the normative text):
 *  - An entry point is an exported function of type () -> (). Its input bytes are read with
 *    keel_input_size/keel_input_copy; its result bytes are set with keel_return_data.
 *  - Pointers and lengths are i32 offsets into the contract's linear memory. Any range that does
 *    not lie inside memory traps the call (a typed, deterministic trap), never the host.
 *  - u256 values are 32 bytes, little-endian. Q64.64 fixed-point values are 16 bytes,
 *    little-endian two's complement (value = raw / 2^64).
 *  - Status codes returned by arithmetic: 0 ok, 1 overflow (result wrapped for u256, zero for
 *    fixed point), 2 division by zero (result zero), 3 domain error (result zero).
 */
#ifndef KEEL_H
#define KEEL_H

#include <stdint.h>

#define KEEL_IMPORT(name) __attribute__((import_module("keel"), import_name(name)))
#define KEEL_EXPORT(name) __attribute__((export_name(name)))

enum { KEEL_OK = 0, KEEL_OVERFLOW = 1, KEEL_DIV_ZERO = 2, KEEL_DOMAIN = 3 };

typedef struct { uint8_t b[32]; } keel_u256;   /* little-endian */
typedef struct { uint8_t b[16]; } keel_fx;     /* Q64.64, little-endian two's complement */
typedef struct { uint8_t b[32]; } keel_address;

/* Call data and result. */
KEEL_IMPORT("input_size")   int32_t keel_input_size(void);
KEEL_IMPORT("input_copy")   void keel_input_copy(void *dst, int32_t offset, int32_t len);
KEEL_IMPORT("return_data")  void keel_return_data(const void *ptr, int32_t len);

/* Storage of the calling contract. storage_read returns the value's full length, or -1 when the
 * key is absent, and copies at most val_cap bytes. storage_remove returns 1 if the key existed. */
KEEL_IMPORT("storage_read")   int32_t keel_storage_read(const void *key, int32_t key_len, void *val, int32_t val_cap);
KEEL_IMPORT("storage_write")  void keel_storage_write(const void *key, int32_t key_len, const void *val, int32_t val_len);
KEEL_IMPORT("storage_remove") int32_t keel_storage_remove(const void *key, int32_t key_len);

/* Events, context, abort. */
KEEL_IMPORT("emit_event")      void keel_emit_event(const void *topic, int32_t topic_len, const void *data, int32_t data_len);
KEEL_IMPORT("caller")          void keel_caller(keel_address *dst);
KEEL_IMPORT("self_address")    void keel_self_address(keel_address *dst);
KEEL_IMPORT("block_height")    int64_t keel_block_height(void);
KEEL_IMPORT("block_timestamp") int64_t keel_block_timestamp(void);
KEEL_IMPORT("gas_left")        int64_t keel_gas_left(void);
KEEL_IMPORT("abort")           __attribute__((noreturn)) void keel_abort(const char *msg, int32_t msg_len);

/* 256-bit unsigned integers (wrapping; the status says whether it wrapped). */
KEEL_IMPORT("u256_add")    int32_t keel_u256_add(const keel_u256 *a, const keel_u256 *b, keel_u256 *out);
KEEL_IMPORT("u256_sub")    int32_t keel_u256_sub(const keel_u256 *a, const keel_u256 *b, keel_u256 *out);
KEEL_IMPORT("u256_mul")    int32_t keel_u256_mul(const keel_u256 *a, const keel_u256 *b, keel_u256 *out);
KEEL_IMPORT("u256_div")    int32_t keel_u256_div(const keel_u256 *a, const keel_u256 *b, keel_u256 *out);
KEEL_IMPORT("u256_mod")    int32_t keel_u256_mod(const keel_u256 *a, const keel_u256 *b, keel_u256 *out);
KEEL_IMPORT("u256_addmod") int32_t keel_u256_addmod(const keel_u256 *a, const keel_u256 *b, const keel_u256 *m, keel_u256 *out);
KEEL_IMPORT("u256_mulmod") int32_t keel_u256_mulmod(const keel_u256 *a, const keel_u256 *b, const keel_u256 *m, keel_u256 *out);
KEEL_IMPORT("u256_exp")    int32_t keel_u256_exp(const keel_u256 *a, const keel_u256 *b, keel_u256 *out);
KEEL_IMPORT("u256_cmp")    int32_t keel_u256_cmp(const keel_u256 *a, const keel_u256 *b); /* -1, 0, 1 */
KEEL_IMPORT("u256_shl")    void keel_u256_shl(const keel_u256 *a, int32_t shift, keel_u256 *out);
KEEL_IMPORT("u256_shr")    void keel_u256_shr(const keel_u256 *a, int32_t shift, keel_u256 *out);

/* Signed Q64.64 fixed point ("bounded floating-point emulation"). */
KEEL_IMPORT("fx_mul")  int32_t keel_fx_mul(const keel_fx *a, const keel_fx *b, keel_fx *out);
KEEL_IMPORT("fx_div")  int32_t keel_fx_div(const keel_fx *a, const keel_fx *b, keel_fx *out);
KEEL_IMPORT("fx_sqrt") int32_t keel_fx_sqrt(const keel_fx *a, keel_fx *out);
KEEL_IMPORT("fx_exp")  int32_t keel_fx_exp(const keel_fx *a, keel_fx *out);
KEEL_IMPORT("fx_ln")   int32_t keel_fx_ln(const keel_fx *a, keel_fx *out);
KEEL_IMPORT("fx_pow")  int32_t keel_fx_pow(const keel_fx *a, const keel_fx *b, keel_fx *out);

/* Native routines (eBPF, metered; see ebpf-bridge/): run activated routine `routine_id` on
 * in[0..in_len), writing exactly out_len bytes to out. Returns 0; any failure (unknown or
 * inactive routine, wrong sizes, fault, budget exhausted) traps the call. */
KEEL_IMPORT("native_call") int32_t keel_native_call(int32_t routine_id, const void *in, int32_t in_len, void *out, int32_t out_len);

/* BLS12-381 (min_pk, Ethereum's POP ciphersuite). Public keys 48 bytes, signatures 96 bytes,
 * compressed. Return 1 if valid, 0 if not (including malformed encodings). */
KEEL_IMPORT("bls_verify") int32_t keel_bls_verify(const uint8_t *pk48, const void *msg, int32_t msg_len, const uint8_t *sig96);
/* n keys (n*48 bytes), n messages of 32 bytes each (n*32 bytes), one aggregate signature. */
KEEL_IMPORT("bls_aggregate_verify") int32_t keel_bls_aggregate_verify(int32_t n, const uint8_t *pks, const uint8_t *msgs32, const uint8_t *sig96);
/* n keys (n*48 bytes) that all signed the same message, one aggregate signature. */
KEEL_IMPORT("bls_fast_aggregate_verify") int32_t keel_bls_fast_aggregate_verify(int32_t n, const uint8_t *pks, const void *msg, int32_t msg_len, const uint8_t *sig96);

/* Zero-knowledge (see vm/core/ABI.md). curve: KEEL_CURVE_BN254 or KEEL_CURVE_BLS12_381.
 * Field elements are 32-byte big-endian and must be below the modulus. Negative results:
 * KEEL_ZK_UNKNOWN_CURVE, KEEL_ZK_BAD_SIZE, KEEL_ZK_BAD_POINT, KEEL_ZK_NON_CANONICAL.
 * keel_poseidon: circom-compatible Poseidon of n (1..16) elements; 0 and a 32-byte digest.
 * keel_groth16_verify: 1 if the proof verifies for the n public inputs, 0 if not. */
enum { KEEL_CURVE_BN254 = 0, KEEL_CURVE_BLS12_381 = 1 };
enum { KEEL_ZK_UNKNOWN_CURVE = -1, KEEL_ZK_BAD_SIZE = -2, KEEL_ZK_BAD_POINT = -3, KEEL_ZK_NON_CANONICAL = -4 };
KEEL_IMPORT("poseidon") int32_t keel_poseidon(int32_t curve, const uint8_t *inputs32, int32_t n, uint8_t *out32);
KEEL_IMPORT("groth16_verify") int32_t keel_groth16_verify(int32_t curve, const uint8_t *vk, int32_t vk_len, const uint8_t *proof, const uint8_t *inputs32, int32_t n);

/* Randomness beacon (see vm/core/ABI.md): the 32-byte final beacon value of block `height`.
 * Returns 0, or KEEL_RANDOMNESS_NOT_FINAL (nothing written) for height 0, the current block or
 * later, and past heights whose VDF output is not yet in a committed block (the last `lag`). */
enum { KEEL_RANDOMNESS_NOT_FINAL = -1 };
KEEL_IMPORT("randomness") int32_t keel_randomness_raw(int32_t height_lo, int32_t height_hi, uint8_t *out32);
static inline int32_t keel_randomness(uint64_t height, uint8_t *out32) {
    return keel_randomness_raw((int32_t)(uint32_t)height, (int32_t)(uint32_t)(height >> 32), out32);
}

/* Cross-contract calls and handles (see vm/core/ABI.md). Authority to call travels as u32
 * handles into a per-call table; rights can only be removed; a handle passed to a callee is
 * moved (copied only if it has KEEL_RIGHT_COPY). Misuse traps the caller.
 * keel_call returns KEEL_CALL_OK, or KEEL_CALL_FAILED (callee trapped: its writes reverted),
 * KEEL_CALL_NO_FUNDS (value not covered), KEEL_CALL_NO_CONTRACT. value: 32-byte u256 LE;
 * gas: 4 x u64 LE limits (compute, storage bytes, memory pages, bandwidth), capped by what the
 * caller has left; pass: pass_len u32 handle indices given to the callee as its handles 0.. */
enum { KEEL_RIGHT_CALL = 1, KEEL_RIGHT_VALUE = 2, KEEL_RIGHT_COPY = 4 };
enum { KEEL_CALL_OK = 0, KEEL_CALL_FAILED = 1, KEEL_CALL_NO_FUNDS = 2, KEEL_CALL_NO_CONTRACT = 3 };
KEEL_IMPORT("call") int32_t keel_call(int32_t handle, const char *entry, int32_t entry_len, const void *in, int32_t in_len, const keel_u256 *value, const uint64_t *gas, const uint32_t *pass, int32_t pass_len);
KEEL_IMPORT("return_data_size") int32_t keel_return_data_size(void);
KEEL_IMPORT("return_data_copy") void keel_return_data_copy(void *dst, int32_t offset, int32_t len);
KEEL_IMPORT("handle_for_contract") int32_t keel_handle_for_contract(const keel_address *contract);
KEEL_IMPORT("handle_attenuate") void keel_handle_attenuate(int32_t handle, int32_t rights);
KEEL_IMPORT("handle_info") int32_t keel_handle_info(int32_t handle, keel_address *target);
KEEL_IMPORT("handle_count") int32_t keel_handle_count(void);

/* Capability manifest: KEEL_MANIFEST("\x01\x01\x02") emits the `keel.manifest` custom section
 * (format in vm/core/ABI.md). Without one a contract gets storage, events, crypto and native. */
#define KEEL_MANIFEST(bytes) \
    __attribute__((used, section(".custom_section.keel.manifest"))) \
    static const char keel_manifest_[sizeof(bytes) - 1] = bytes

#endif
