/* Shared freestanding runtime for Keel C contracts (see keel_runtime.h). Plain loops on purpose:
 * the profile has no bulk-memory, and -fno-builtin keeps clang from turning them back into calls
 * to themselves. */
#include "keel_runtime.h"

/* Eight bytes at a time, then the tail: wasm loads and stores need no alignment, so an
 * unaligned 64-bit access is one instruction (and one gas unit) where the byte loop spent
 * eight. `may_alias` keeps the word accesses legal on any object. */
typedef uint64_t __attribute__((__may_alias__, __aligned__(1))) keel_word;

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    for (; n >= 8; n -= 8, d += 8, s += 8) *(keel_word *)d = *(const keel_word *)s;
    for (; n > 0; n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    uint64_t w = (uint64_t)(uint8_t)c * 0x0101010101010101ull;
    for (; n >= 8; n -= 8, d += 8) *(keel_word *)d = w;
    for (; n > 0; n--) *d++ = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a;
    const uint8_t *y = (const uint8_t *)b;
    /* Whole equal words are skipped; the first word that differs is compared byte by byte. */
    for (; n >= 8; n -= 8, x += 8, y += 8) {
        if (*(const keel_word *)x != *(const keel_word *)y) break;
    }
    for (; n > 0; n--, x++, y++) {
        if (*x != *y) return *x < *y ? -1 : 1;
    }
    return 0;
}

void keel_input_exact(void *dst, int32_t len) {
    if (keel_input_size() != len) KEEL_FAIL("bad input length");
    keel_input_copy(dst, 0, len);
}

uint32_t keel_input_u32_prefix(void) {
    uint8_t b[4];
    if (keel_input_size() < 4) KEEL_FAIL("input shorter than 4 bytes");
    keel_input_copy(b, 0, 4);
    return keel_load_u32_le(b);
}
