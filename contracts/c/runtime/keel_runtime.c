/* Shared freestanding runtime for Keel C contracts (see keel_runtime.h). Byte loops on purpose:
 * the profile has no bulk-memory, and -fno-builtin keeps clang from turning them back into calls
 * to themselves. */
#include "keel_runtime.h"

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    for (size_t i = 0; i < n; i++) d[i] = s[i];
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a;
    const uint8_t *y = (const uint8_t *)b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
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
