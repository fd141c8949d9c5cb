/* SHA-256 (FIPS 180-4) over bounded inputs, shared by the sha256 and merkle routines. */
#ifndef KEEL_SHA256_H
#define KEEL_SHA256_H

#include "keel_routine.h"

static const u32 SHA256_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const u32 SHA256_IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* The second block of sha256 over exactly 64 bytes: 0x80, zeros, bit length 512. */
static const u8 SHA256_PAD64[64] = {
    0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00,
};

/* 32-bit rotations without alu32: duplicate the word into both halves of a u64, then a single
 * 64-bit right shift leaves the rotation in the low half. */
KEEL_INLINE u64 dup32(u32 x)
{
    u64 y = x;
    return y | (y << 32);
}

KEEL_INLINE u32 big_sigma0(u32 a)
{
    u64 d = dup32(a);
    return (u32)((d >> 2) ^ (d >> 13) ^ (d >> 22));
}

KEEL_INLINE u32 big_sigma1(u32 e)
{
    u64 d = dup32(e);
    return (u32)((d >> 6) ^ (d >> 11) ^ (d >> 25));
}

KEEL_INLINE u32 small_sigma0(u32 x)
{
    u64 d = dup32(x);
    return (u32)((d >> 7) ^ (d >> 18) ^ (x >> 3));
}

KEEL_INLINE u32 small_sigma1(u32 x)
{
    u64 d = dup32(x);
    return (u32)((d >> 17) ^ (d >> 19) ^ (x >> 10));
}

/* One round; the caller rotates the roles of a..h instead of moving eight values. */
#define SHA256_ROUND(a, b, c, d, e, f, g, h, k, w)                                  \
    do {                                                                          \
        u32 t1 = h + big_sigma1(e) + ((e & f) ^ (~e & g)) + (k) + (w);            \
        u32 t2 = big_sigma0(a) + ((a & b) ^ (a & c) ^ (b & c));                   \
        d += t1;                                                                  \
        h = t1 + t2;                                                              \
    } while (0)

/* Message word t >= 16 of the 16-word ring. */
#define SHA256_SCHEDULE(w, t)                                                     \
    (w[(t) & 15] += small_sigma1(w[((t) - 2) & 15]) + w[((t) - 7) & 15] +         \
                    small_sigma0(w[((t) - 15) & 15]))

/* One compression of a 64-byte block; the message schedule is a 16-word ring to keep the stack
 * small (the kernel allows 512 bytes). Eight rounds per iteration so the roles rotate back. */
KEEL_INLINE void sha256_compress(u32 *st, const u8 *blk)
{
    u32 w[16];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(blk + 4 * t);
    u32 a = st[0], b = st[1], c = st[2], d = st[3];
    u32 e = st[4], f = st[5], g = st[6], h = st[7];
    for (int t = 0; t < 64; t += 8) {
        u32 w0, w1, w2, w3, w4, w5, w6, w7;
        if (t < 16) {
            w0 = w[(t + 0) & 15];
            w1 = w[(t + 1) & 15];
            w2 = w[(t + 2) & 15];
            w3 = w[(t + 3) & 15];
            w4 = w[(t + 4) & 15];
            w5 = w[(t + 5) & 15];
            w6 = w[(t + 6) & 15];
            w7 = w[(t + 7) & 15];
        } else {
            w0 = SHA256_SCHEDULE(w, t + 0);
            w1 = SHA256_SCHEDULE(w, t + 1);
            w2 = SHA256_SCHEDULE(w, t + 2);
            w3 = SHA256_SCHEDULE(w, t + 3);
            w4 = SHA256_SCHEDULE(w, t + 4);
            w5 = SHA256_SCHEDULE(w, t + 5);
            w6 = SHA256_SCHEDULE(w, t + 6);
            w7 = SHA256_SCHEDULE(w, t + 7);
        }
        SHA256_ROUND(a, b, c, d, e, f, g, h, SHA256_K[t + 0], w0);
        SHA256_ROUND(h, a, b, c, d, e, f, g, SHA256_K[t + 1], w1);
        SHA256_ROUND(g, h, a, b, c, d, e, f, SHA256_K[t + 2], w2);
        SHA256_ROUND(f, g, h, a, b, c, d, e, SHA256_K[t + 3], w3);
        SHA256_ROUND(e, f, g, h, a, b, c, d, SHA256_K[t + 4], w4);
        SHA256_ROUND(d, e, f, g, h, a, b, c, SHA256_K[t + 5], w5);
        SHA256_ROUND(c, d, e, f, g, h, a, b, SHA256_K[t + 6], w6);
        SHA256_ROUND(b, c, d, e, f, g, h, a, SHA256_K[t + 7], w7);
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

KEEL_INLINE void sha256_init(u32 *st)
{
    for (int i = 0; i < 8; i++)
        st[i] = SHA256_IV[i];
}

KEEL_INLINE void sha256_digest(const u32 *st, u8 *out)
{
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, st[i]);
}

/* Largest input the sha256 routine accepts; bounds every loop below. The kernel build lowers it
 * (build.rs) because the kernel verifier walks every iteration within a 1M-instruction budget. */
#ifndef SHA256_MAX_INPUT
#define SHA256_MAX_INPUT 4096
#endif
/* Message blocks plus the one or two blocks of padding. */
#define SHA256_MAX_BLOCKS (SHA256_MAX_INPUT / 64 + 2)

/* sha256(in[0..len]) for len <= SHA256_MAX_INPUT (the caller checks).
 * Every block, padding included, is staged in one 64-byte buffer so the compression is inlined
 * once (two copies would overflow the 512-byte stack with spills). */
KEEL_INLINE void sha256(const u8 *in, u64 len, u8 *out)
{
    u32 st[8];
    sha256_init(st);
    u64 total = (len + 8) / 64 + 1; /* message, 0x80, zeros, 8-byte length */
    u64 bits = len << 3;
    for (u64 b = 0; b < SHA256_MAX_BLOCKS; b++) {
        if (b >= total)
            break;
        u8 blk[64];
        u64 off = b << 6;
        if (off + 64 <= len) {
            for (u64 j = 0; j < 64; j++)
                blk[j] = in[off + j];
        } else {
            u64 last = b + 1 == total;
            for (u64 j = 0; j < 64; j++) {
                u64 pos = off + j;
                u8 v = 0;
                if (pos < len)
                    v = in[pos];
                else if (pos == len)
                    v = 0x80;
                else if (last && j >= 56)
                    v = (u8)(bits >> (8 * (63 - j)));
                blk[j] = v;
            }
        }
        sha256_compress(st, blk);
    }
    sha256_digest(st, out);
}

#endif
