/*
 * The reference BLS plug-in: keel_offload.h implemented on blst's C API, one full verification
 * per triple. It proves the ABI end to end and is what an accelerator's verdicts are held to.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "blst.h"
#include "keel_offload.h"

struct keel_offload_ctx {
    uint64_t batches;
};

static const char DST[] = KEEL_OFFLOAD_DST;

uint32_t keel_offload_abi_version(void) { return KEEL_OFFLOAD_ABI_VERSION; }

int keel_offload_init(uint32_t abi_version, keel_offload_ctx **ctx) {
    if (abi_version != KEEL_OFFLOAD_ABI_VERSION) return KEEL_OFFLOAD_ERR_ABI;
    if (ctx == NULL) return KEEL_OFFLOAD_ERR_ARGUMENT;
    *ctx = calloc(1, sizeof(**ctx));
    return *ctx ? KEEL_OFFLOAD_OK : KEEL_OFFLOAD_ERR_DEVICE;
}

int keel_offload_capabilities(const keel_offload_ctx *ctx, keel_offload_caps *caps) {
    if (ctx == NULL || caps == NULL) return KEEL_OFFLOAD_ERR_ARGUMENT;
    memset(caps, 0, sizeof(*caps));
    caps->abi_version = KEEL_OFFLOAD_ABI_VERSION;
    caps->max_batch = 1u << 16;
    strncpy(caps->name, "blst-cpu (reference plug-in)", sizeof(caps->name) - 1);
    return KEEL_OFFLOAD_OK;
}

static uint8_t verify_one(const keel_offload_triple *t) {
    blst_p1_affine pk;
    blst_p2_affine sig;
    if (t->pk == NULL || t->sig == NULL || (t->msg == NULL && t->msg_len != 0)) return 0;
    if (t->pk_len != 48 || t->sig_len != 96) return 0;
    if (blst_p1_uncompress(&pk, t->pk) != BLST_SUCCESS) return 0;
    if (blst_p1_affine_is_inf(&pk) || !blst_p1_affine_in_g1(&pk)) return 0;
    if (blst_p2_uncompress(&sig, t->sig) != BLST_SUCCESS) return 0;
    if (blst_p2_affine_is_inf(&sig) || !blst_p2_affine_in_g2(&sig)) return 0;
    return blst_core_verify_pk_in_g1(&pk, &sig, true, t->msg, t->msg_len, (const byte *)DST,
                                     sizeof(DST) - 1, NULL, 0) == BLST_SUCCESS;
}

int keel_offload_verify_batch(keel_offload_ctx *ctx, const keel_offload_triple *items, size_t n,
                              uint8_t *verdicts) {
    if (ctx == NULL || (n != 0 && (items == NULL || verdicts == NULL)))
        return KEEL_OFFLOAD_ERR_ARGUMENT;
    if (n > (1u << 16)) return KEEL_OFFLOAD_ERR_ARGUMENT;
    for (size_t i = 0; i < n; i++) verdicts[i] = verify_one(&items[i]);
    ctx->batches++;
    return KEEL_OFFLOAD_OK;
}

void keel_offload_teardown(keel_offload_ctx *ctx) { free(ctx); }
