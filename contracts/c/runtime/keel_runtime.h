/* Shared freestanding runtime for Keel C contracts: the libc pieces clang may call on its own
 * (memcpy/memset), little-endian load/store helpers and input/return conveniences.
 * Linked into every contract by build.rs; it is not a contract itself. */
#ifndef KEEL_RUNTIME_H
#define KEEL_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "keel.h"

/* clang lowers struct copies and zero-initialisation to these even with -fno-builtin. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* Aborts the call with a string-literal message (length taken at compile time). */
#define KEEL_FAIL(lit) keel_abort((lit), (int32_t)(sizeof(lit) - 1))

/* A user assertion: aborts with "assertion failed: COND" when COND is false. `keel analyze
 * concolic` reports the inputs that reach it as assertion failures. */
#define KEEL_ASSERT(cond) \
    do { \
        if (!(cond)) KEEL_FAIL("assertion failed: " #cond); \
    } while (0)

static inline uint32_t keel_load_u32_le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t keel_load_u64_le(const uint8_t *p) {
    return (uint64_t)keel_load_u32_le(p) | ((uint64_t)keel_load_u32_le(p + 4) << 32);
}

static inline void keel_store_u32_le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void keel_store_u64_le(uint8_t *p, uint64_t v) {
    keel_store_u32_le(p, (uint32_t)v);
    keel_store_u32_le(p + 4, (uint32_t)(v >> 32));
}

/* Copies the whole call input into dst, aborting unless it is exactly len bytes long.
 * Every fixed-layout entry point uses this so a malformed call fails loudly, never half-parsed. */
void keel_input_exact(void *dst, int32_t len);

/* Reads the first 4 input bytes as a u32 (LE), aborting if the input is shorter. */
uint32_t keel_input_u32_prefix(void);

#endif
