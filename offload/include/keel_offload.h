/*
 * keel_offload.h — the C ABI of Keel's BLS verification plug-ins (ABI version 1).
 *
 * A hardware team ships a shared object exporting the five functions below. Keel loads it in a
 * separate process (`keel hwtest plugin-host`), so a plug-in that crashes or hangs cannot take
 * Keel down; `keel hwtest run --plugin PATH.so` qualifies it (conformance against py_ecc vectors
 * and Keel's single-signature path, then throughput and latency).
 *
 * Scheme: Ethereum's BLS12-381 "minimal public key size": public keys are 48-byte compressed G1
 * points, signatures 96-byte compressed G2 points, messages hashed to G2 with the ciphersuite
 * KEEL_OFFLOAD_DST (proof-of-possession scheme). A verdict is 1 only if the key decodes, is not
 * the point at infinity and lies in the G1 subgroup; the signature decodes, is not infinity and
 * lies in the G2 subgroup; and the pairing equation holds. Anything else (wrong lengths
 * included) is 0. Verdicts must be a function of each triple alone.
 *
 * Threading: Keel calls a context from one thread at a time. Memory passed in is read-only and
 * valid only during the call; the plug-in must not keep pointers to it.
 */
#ifndef KEEL_OFFLOAD_H
#define KEEL_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. Bumped on any incompatible change. */
#define KEEL_OFFLOAD_ABI_VERSION 1u

/* Domain separation tag of message signatures. */
#define KEEL_OFFLOAD_DST "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"

/* Status codes. */
#define KEEL_OFFLOAD_OK 0
#define KEEL_OFFLOAD_ERR_ABI 1      /* the requested ABI version is not supported */
#define KEEL_OFFLOAD_ERR_DEVICE 2   /* the accelerator is missing or failed */
#define KEEL_OFFLOAD_ERR_ARGUMENT 3 /* a null pointer or a batch larger than max_batch */

/* One item to verify. */
typedef struct keel_offload_triple {
    const uint8_t *pk;  size_t pk_len;   /* 48 when well formed */
    const uint8_t *msg; size_t msg_len;
    const uint8_t *sig; size_t sig_len;  /* 96 when well formed */
} keel_offload_triple;

/* What the plug-in is. */
typedef struct keel_offload_caps {
    uint32_t abi_version;  /* KEEL_OFFLOAD_ABI_VERSION the plug-in was built against */
    uint32_t max_batch;    /* largest n verify_batch accepts (Keel splits larger batches) */
    uint64_t flags;        /* reserved, 0 */
    char name[64];         /* NUL-terminated, e.g. "blst-cpu" or the device model */
} keel_offload_caps;

/* Opaque per-plug-in state. */
typedef struct keel_offload_ctx keel_offload_ctx;

/* The ABI version the plug-in implements (callable before init). */
uint32_t keel_offload_abi_version(void);

/* Sets up the accelerator; *ctx receives the state. Returns KEEL_OFFLOAD_OK or an error. */
int keel_offload_init(uint32_t abi_version, keel_offload_ctx **ctx);

/* Fills *caps. */
int keel_offload_capabilities(const keel_offload_ctx *ctx, keel_offload_caps *caps);

/* Verifies n triples, writing verdicts[i] = 1 (valid) or 0 (invalid) for every i < n.
 * Returns KEEL_OFFLOAD_OK, or an error (then Keel ignores the verdicts). */
int keel_offload_verify_batch(keel_offload_ctx *ctx, const keel_offload_triple *items, size_t n,
                              uint8_t *verdicts);

/* Releases everything init acquired. */
void keel_offload_teardown(keel_offload_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_OFFLOAD_H */
