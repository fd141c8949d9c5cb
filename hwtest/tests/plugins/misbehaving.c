/*
 * Test fixtures: plug-ins that misbehave in one way each, selected at compile time.
 *   -DKEEL_LIE   every triple "valid" (must fail qualification)
 *   -DKEEL_CRASH null-pointer write on the first batch (must be contained)
 *   -DKEEL_HANG  never returns from the first batch (must be killed after the timeout)
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keel_offload.h"

struct keel_offload_ctx { int unused; };
static struct keel_offload_ctx the_ctx;

uint32_t keel_offload_abi_version(void) { return KEEL_OFFLOAD_ABI_VERSION; }

int keel_offload_init(uint32_t v, keel_offload_ctx **ctx) {
    if (v != KEEL_OFFLOAD_ABI_VERSION) return KEEL_OFFLOAD_ERR_ABI;
    *ctx = &the_ctx;
    return KEEL_OFFLOAD_OK;
}

int keel_offload_capabilities(const keel_offload_ctx *ctx, keel_offload_caps *caps) {
    (void)ctx;
    memset(caps, 0, sizeof(*caps));
    caps->abi_version = KEEL_OFFLOAD_ABI_VERSION;
    caps->max_batch = 1024;
    strncpy(caps->name, "misbehaving fixture", sizeof(caps->name) - 1);
    return KEEL_OFFLOAD_OK;
}

int keel_offload_verify_batch(keel_offload_ctx *ctx, const keel_offload_triple *items, size_t n,
                              uint8_t *verdicts) {
    (void)ctx; (void)items;
#if defined(KEEL_CRASH)
    *(volatile int *)0 = 1;
#elif defined(KEEL_HANG)
    for (;;) pause();
#endif
    for (size_t i = 0; i < n; i++) verdicts[i] = 1;
    return KEEL_OFFLOAD_OK;
}

void keel_offload_teardown(keel_offload_ctx *ctx) { (void)ctx; }
