/* Benchmark kernel: SHA-256 (FIPS 180-4) written in the contract, no host crypto.
 *
 * Entry points:
 *   sha256       in: any bytes                  out: SHA-256(input) (32)
 *   sha256_iter  in: n(u32 LE) || rest (>= 4)   out: d_n (32), where d_0 = SHA-256(whole input,
 *                                               including the 4 count bytes) and
 *                                               d_{i+1} = SHA-256(d_i)
 * The input is streamed in CHUNK-byte pieces, so its size is bounded by the VM, not by memory.
 * Reference: keel_contracts::reference::{expected_sha256, expected_sha256_iter}.
 */
#include "keel_runtime.h"

#define CHUNK 4096

typedef struct {
    uint32_t h[8];
    uint8_t block[64];
    uint32_t used;      /* bytes buffered in block */
    uint64_t total;     /* bytes absorbed so far */
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static uint8_t chunk[CHUNK];

static inline uint32_t rotr(uint32_t x, uint32_t n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void compress(uint32_t h[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++) w[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t big1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + big1 + ch + K[t] + w[t];
        uint32_t big0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = big0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

static void sha256_init(sha256_ctx *ctx) {
    for (int i = 0; i < 8; i++) ctx->h[i] = H0[i];
    ctx->used = 0;
    ctx->total = 0;
}

static void sha256_update(sha256_ctx *ctx, const uint8_t *data, uint32_t len) {
    ctx->total += len;
    while (len > 0) {
        uint32_t take = 64 - ctx->used;
        if (take > len) take = len;
        memcpy(ctx->block + ctx->used, data, take);
        ctx->used += take;
        data += take;
        len -= take;
        if (ctx->used == 64) {
            compress(ctx->h, ctx->block);
            ctx->used = 0;
        }
    }
}

/* Padding: 0x80, zeros up to 56 mod 64, then the message length in bits as u64 big-endian. */
static void sha256_final(sha256_ctx *ctx, uint8_t out[32]) {
    uint64_t bits = ctx->total * 8;
    ctx->block[ctx->used++] = 0x80;
    if (ctx->used > 56) {
        memset(ctx->block + ctx->used, 0, 64 - ctx->used);
        compress(ctx->h, ctx->block);
        ctx->used = 0;
    }
    memset(ctx->block + ctx->used, 0, 56 - ctx->used);
    store_be32(ctx->block + 56, (uint32_t)(bits >> 32));
    store_be32(ctx->block + 60, (uint32_t)bits);
    compress(ctx->h, ctx->block);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, ctx->h[i]);
}

/* Hashes the whole call input, reading it CHUNK bytes at a time. */
static void hash_input(uint8_t out[32]) {
    sha256_ctx ctx;
    sha256_init(&ctx);
    int32_t size = keel_input_size();
    for (int32_t off = 0; off < size; off += CHUNK) {
        int32_t n = size - off < CHUNK ? size - off : CHUNK;
        keel_input_copy(chunk, off, n);
        sha256_update(&ctx, chunk, (uint32_t)n);
    }
    sha256_final(&ctx, out);
}

KEEL_EXPORT("sha256") void sha256(void) {
    uint8_t digest[32];
    hash_input(digest);
    keel_return_data(digest, 32);
}

KEEL_EXPORT("sha256_iter") void sha256_iter(void) {
    uint32_t rounds = keel_input_u32_prefix();
    uint8_t digest[32];
    hash_input(digest);
    for (uint32_t i = 0; i < rounds; i++) {
        sha256_ctx ctx;
        sha256_init(&ctx);
        sha256_update(&ctx, digest, 32);
        sha256_final(&ctx, digest);
    }
    keel_return_data(digest, 32);
}
