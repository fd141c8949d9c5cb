/* Keel host ABI v1 — the `keel` import namespace, for contracts written in C.
 *
 * Compile with: clang --target=wasm32 -O2 -nostdlib -fno-builtin -I contracts/include \
 *               -Wl,--no-entry -Wl,--export=NAME ... -o out.wasm src.c
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
KEEL_IMPORT("bls_verify") int32_t keel_bls_verify(const uint8_t pk[48], const void *msg, int32_t msg_len, const uint8_t sig[96]);
/* n keys (n*48 bytes), n messages of 32 bytes each (n*32 bytes), one aggregate signature. */
KEEL_IMPORT("bls_aggregate_verify") int32_t keel_bls_aggregate_verify(int32_t n, const uint8_t *pks, const uint8_t *msgs32, const uint8_t sig[96]);
/* n keys (n*48 bytes) that all signed the same message, one aggregate signature. */
KEEL_IMPORT("bls_fast_aggregate_verify") int32_t keel_bls_fast_aggregate_verify(int32_t n, const uint8_t *pks, const void *msg, int32_t msg_len, const uint8_t sig[96]);

#endif
