/*
 * Test fixtures: plug-ins that misbehave in one way each, selected at compile time.
 *   -DKEEL_LIE   every triple "valid" (must fail qualification)
 *   -DKEEL_CRASH null-pointer write on the first batch (must be contained)
 *   -DKEEL_HANG  never returns from the first batch (must be killed after the timeout)
 *   -DKEEL_ESCAPE tries to leave its sandbox on every batch: reads /etc/shadow, opens an IPv4
 *                socket, creates a file in /tmp; returns the bit mask of what succeeded
 *                (1, 2, 4) as its status, 0 when everything was refused
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#elif defined(KEEL_ESCAPE)
    int escaped = 0;
    int fd = open("/etc/shadow", O_RDONLY);
    if (fd >= 0) { escaped |= 1; close(fd); }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0) { escaped |= 2; close(s); }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/keel-plugin-escape-%d", (int)getpid());
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (f >= 0) { escaped |= 4; close(f); unlink(path); }
    if (escaped) return escaped;
#endif
    for (size_t i = 0; i < n; i++) verdicts[i] = 1;
    return KEEL_OFFLOAD_OK;
}

void keel_offload_teardown(keel_offload_ctx *ctx) { (void)ctx; }
