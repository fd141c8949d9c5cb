/* SHA-256 (FIPS 180-4) over bounded inputs, shared by the sha256 and merkle routines.
 *
 * Written for what is expensive on solana-sbpf: every load and store is a bounds-checked call
 * out of the JIT (~2-3 ns), an ALU instruction a fraction of that (~0.25 ns). So:
 *   - the 64 rounds and the message schedule are fully unrolled: round constants become
 *     immediates, the working variables never leave registers, and the message words are
 *     consumed in packed pairs (one 64-bit load per two rounds);
 *   - 32-bit words live in 64-bit registers with garbage allowed above bit 31 wherever only the
 *     low half matters (additions, and/or/xor); a word is cleaned only before a right shift;
 *   - rotations use the "dup" form d = x << 32 | x, where d >> n holds rotr(x, n) in its low
 *     half; the three shifts of a Sigma are chained on one register (d >> 6, then d >>= 11,
 *     then d >>= 14 for 25);
 *   - big-endian words come from one 64-bit load and a `be64` byte swap (BPF_END).
 * About 3,830 instructions and 110 memory accesses per block (the portable C before it: ~6,500
 * instructions, with stack spills in every round).
 * There are no data-dependent branches inside a block and no per-byte branches in the padding,
 * which keeps the kernel verifier's walk linear in the number of blocks.
 */
#ifndef KEEL_SHA256_H
#define KEEL_SHA256_H

#include "keel_routine.h"

/*
 * The block function is BPF assembly (clang inline asm) because its whole point is register
 * allocation: the eight working variables plus two temporaries fill all ten registers, and
 * clang, left to itself, interleaves rounds and spills to the stack — a load or store per
 * spill, each costing as much as ten ALU instructions on the JIT. The C operands say which
 * values live where; clang only loads the message pairs and the state around the asm.
 */

/* Two rounds, t and t+1, with the message pair p = W[t] << 32 | W[t+1] (consumed: its register
 * is the second temporary afterwards) and round constants k0, k1 (imm32: only the low 32 bits
 * of a sum matter). The roles of a..h rotate by argument order. Per round, 38 instructions on
 * average: h += W + K + Ch + Sigma1(e), d += h, h += Sigma0(a) + Maj, with
 * Ch = g ^ (e & (f ^ g)), Maj = (a | b) & c | (a & b), and each Sigma on the dup form of its
 * word, built in four instructions that also clean the word in place. */
#define SHA256_ROUNDS2(va, vb, vc, vd, ve, vf, vg, vh, k0v, k1v, p)                          \
    do {                                                                           \
        u64 t_, u_ = (p);                                                          \
        __asm__ __volatile__("%[t] = %[u]\n\t%[t] >>= 32\n\t%[h] += %[t]\n\t"                   \
                "%[h] += %[k0]\n\t"                                                \
                "%[t] = %[f]\n\t%[t] ^= %[g]\n\t%[t] &= %[e]\n\t%[t] ^= %[g]\n\t"  \
                "%[h] += %[t]\n\t"                                                 \
                "%[g] += %[u]\n\t"                                                 \
                "%[e] <<= 32\n\t%[t] = %[e]\n\t%[e] >>= 32\n\t%[t] |= %[e]\n\t"    \
                "%[u] = %[t]\n\t%[u] >>= 6\n\t%[t] >>= 11\n\t%[u] ^= %[t]\n\t"     \
                "%[t] >>= 14\n\t%[u] ^= %[t]\n\t%[h] += %[u]\n\t"                  \
                "%[d] += %[h]\n\t"                                                 \
                "%[a] <<= 32\n\t%[t] = %[a]\n\t%[a] >>= 32\n\t%[t] |= %[a]\n\t"    \
                "%[u] = %[t]\n\t%[u] >>= 2\n\t%[t] >>= 13\n\t%[u] ^= %[t]\n\t"     \
                "%[t] >>= 9\n\t%[u] ^= %[t]\n\t%[h] += %[u]\n\t"                   \
                "%[t] = %[a]\n\t%[t] |= %[b]\n\t%[t] &= %[c]\n\t"                  \
                "%[u] = %[a]\n\t%[u] &= %[b]\n\t%[t] |= %[u]\n\t%[h] += %[t]\n\t"  \
                "%[g] += %[k1]\n\t"                                                \
                "%[t] = %[e]\n\t%[t] ^= %[f]\n\t%[t] &= %[d]\n\t%[t] ^= %[f]\n\t"  \
                "%[g] += %[t]\n\t"                                                 \
                "%[d] <<= 32\n\t%[t] = %[d]\n\t%[d] >>= 32\n\t%[t] |= %[d]\n\t"    \
                "%[u] = %[t]\n\t%[u] >>= 6\n\t%[t] >>= 11\n\t%[u] ^= %[t]\n\t"     \
                "%[t] >>= 14\n\t%[u] ^= %[t]\n\t%[g] += %[u]\n\t"                  \
                "%[c] += %[g]\n\t"                                                 \
                "%[h] <<= 32\n\t%[t] = %[h]\n\t%[h] >>= 32\n\t%[t] |= %[h]\n\t"    \
                "%[u] = %[t]\n\t%[u] >>= 2\n\t%[t] >>= 13\n\t%[u] ^= %[t]\n\t"     \
                "%[t] >>= 9\n\t%[u] ^= %[t]\n\t%[g] += %[u]\n\t"                   \
                "%[t] = %[h]\n\t%[t] |= %[a]\n\t%[t] &= %[b]\n\t"                  \
                "%[u] = %[h]\n\t%[u] &= %[a]\n\t%[t] |= %[u]\n\t%[g] += %[t]"      \
                : [a] "+r"(va), [b] "+r"(vb), [c] "+r"(vc), [d] "+r"(vd), [e] "+r"(ve), \
                  [f] "+r"(vf), [g] "+r"(vg), [h] "+r"(vh), [u] "+r"(u_), [t] "=&r"(t_) \
                : [k0] "i"((int)(k0v)), [k1] "i"((int)(k1v)));                       \
    } while (0)

/* One step of the message schedule, two words at a time. The window of 16 words is eight pairs
 * q0..q7 (q_i = W[2i] << 32 | W[2i+1], oldest first); q1..q7 are in registers, q0 is reloaded
 * (`q0_mem`) because ten registers do not hold eight pairs and three temporaries. Computes
 *   W[16] = s1(W[14]) + W[9]  + s0(W[1]) + W[0]
 *   W[17] = s1(W[15]) + W[10] + s0(W[2]) + W[1]
 * and leaves the new pair in q1's register (q1 itself is not needed again). */
#define SHA256_SCHEDULE2(q0_mem, v1, v4, v5, v7)                                   \
    do {                                                                           \
        u64 a_ = (q0_mem), b_, c_;                                                 \
        __asm__ __volatile__("%[q1] >>= 32\n\t%[b] = %[q1]\n\t%[b] <<= 32\n\t%[b] |= %[q1]\n\t" \
                "%[q1] >>= 3\n\t%[b] >>= 7\n\t%[q1] ^= %[b]\n\t"                   \
                "%[b] >>= 11\n\t%[q1] ^= %[b]\n\t"                                 \
                "%[q1] += %[a]\n\t"                                                \
                "%[b] = %[q5]\n\t%[b] >>= 32\n\t%[q1] += %[b]\n\t"                 \
                "%[b] = %[q7]\n\t%[b] <<= 32\n\t%[c] = %[b]\n\t%[c] >>= 32\n\t"    \
                "%[b] |= %[c]\n\t%[c] >>= 10\n\t%[b] >>= 17\n\t%[c] ^= %[b]\n\t"   \
                "%[b] >>= 2\n\t%[c] ^= %[b]\n\t%[q1] += %[c]\n\t"                  \
                "%[b] = %[a]\n\t%[b] >>= 32\n\t"                                   \
                "%[a] <<= 32\n\t%[c] = %[a]\n\t%[a] >>= 32\n\t%[c] |= %[a]\n\t"    \
                "%[a] >>= 3\n\t%[c] >>= 7\n\t%[a] ^= %[c]\n\t"                     \
                "%[c] >>= 11\n\t%[a] ^= %[c]\n\t"                                  \
                "%[a] += %[b]\n\t%[a] += %[q4]\n\t"                                \
                "%[b] = %[q7]\n\t%[b] >>= 32\n\t%[c] = %[b]\n\t%[c] <<= 32\n\t"    \
                "%[c] |= %[b]\n\t%[b] >>= 10\n\t%[c] >>= 17\n\t%[b] ^= %[c]\n\t"   \
                "%[c] >>= 2\n\t%[b] ^= %[c]\n\t%[a] += %[b]\n\t"                   \
                "%[a] <<= 32\n\t%[q1] <<= 32\n\t%[q1] >>= 32\n\t%[q1] |= %[a]"     \
                : [q1] "+&r"(v1), [a] "+&r"(a_), [b] "=&r"(b_), [c] "=&r"(c_)      \
                : [q4] "r"(v4), [q5] "r"(v5), [q7] "r"(v7));                       \
    } while (0)

/* Scratch of one compression: the expanded schedule, 32 packed pairs. Callers own it so that
 * every inlined compression shares one buffer (the kernel allows a 512-byte stack). */
#define SHA256_SCHEDULE_PAIRS 32

/* One compression of the 64-byte block at `blk` (8-byte aligned) into the state st[8]: the
 * schedule is expanded into w (SHA256_SCHEDULE_PAIRS packed pairs), then the 64 rounds read one
 * pair per two rounds. */
KEEL_INLINE void sha256_compress(u32 *st, const u8 *blk, u64 *w)
{
    /* w's and st's addresses escape here, so they stay arrays in memory; otherwise they are split
     * into scalars whose spill slots are not shared between the inlined copies. */
    __asm__ __volatile__("" : : "r"(w), "r"(st) : "memory");
    u64 q0 = __builtin_bswap64(*(const u64 *)(blk + 0));
    u64 q1 = __builtin_bswap64(*(const u64 *)(blk + 8));
    u64 q2 = __builtin_bswap64(*(const u64 *)(blk + 16));
    u64 q3 = __builtin_bswap64(*(const u64 *)(blk + 24));
    u64 q4 = __builtin_bswap64(*(const u64 *)(blk + 32));
    u64 q5 = __builtin_bswap64(*(const u64 *)(blk + 40));
    u64 q6 = __builtin_bswap64(*(const u64 *)(blk + 48));
    u64 q7 = __builtin_bswap64(*(const u64 *)(blk + 56));
    w[0] = q0;
    w[1] = q1;
    w[2] = q2;
    w[3] = q3;
    w[4] = q4;
    w[5] = q5;
    w[6] = q6;
    w[7] = q7;
    /* Step i makes pair 8 + i from pairs i..i+7: pair i is reloaded from w, the other seven are
     * in the registers of q1..q7, whose roles rotate by argument order (the new pair takes the
     * register of the pair that dropped out of the register window). */
#define SHA256_STEP(i, q1, q4, q5, q7)                                             \
    do {                                                                           \
        SHA256_SCHEDULE2(w[i], q1, q4, q5, q7);                                    \
        w[(i) + 8] = q1;                                                           \
    } while (0)
    SHA256_STEP(0, q1, q4, q5, q7);
    SHA256_STEP(1, q2, q5, q6, q1);
    SHA256_STEP(2, q3, q6, q7, q2);
    SHA256_STEP(3, q4, q7, q1, q3);
    SHA256_STEP(4, q5, q1, q2, q4);
    SHA256_STEP(5, q6, q2, q3, q5);
    SHA256_STEP(6, q7, q3, q4, q6);
    SHA256_STEP(7, q1, q4, q5, q7);
    SHA256_STEP(8, q2, q5, q6, q1);
    SHA256_STEP(9, q3, q6, q7, q2);
    SHA256_STEP(10, q4, q7, q1, q3);
    SHA256_STEP(11, q5, q1, q2, q4);
    SHA256_STEP(12, q6, q2, q3, q5);
    SHA256_STEP(13, q7, q3, q4, q6);
    SHA256_STEP(14, q1, q4, q5, q7);
    SHA256_STEP(15, q2, q5, q6, q1);
    SHA256_STEP(16, q3, q6, q7, q2);
    SHA256_STEP(17, q4, q7, q1, q3);
    SHA256_STEP(18, q5, q1, q2, q4);
    SHA256_STEP(19, q6, q2, q3, q5);
    SHA256_STEP(20, q7, q3, q4, q6);
    SHA256_STEP(21, q1, q4, q5, q7);
    SHA256_STEP(22, q2, q5, q6, q1);
    SHA256_STEP(23, q3, q6, q7, q2);
#undef SHA256_STEP

    u64 a = st[0], b = st[1], c = st[2], d = st[3];
    u64 e = st[4], f = st[5], g = st[6], h = st[7];
#define SHA256_EIGHT(k0, k1, k2, k3, k4, k5, k6, k7, i)                             \
    do {                                                                           \
        SHA256_ROUNDS2(a, b, c, d, e, f, g, h, k0, k1, w[(i) + 0]);                \
        SHA256_ROUNDS2(g, h, a, b, c, d, e, f, k2, k3, w[(i) + 1]);                \
        SHA256_ROUNDS2(e, f, g, h, a, b, c, d, k4, k5, w[(i) + 2]);                \
        SHA256_ROUNDS2(c, d, e, f, g, h, a, b, k6, k7, w[(i) + 3]);                \
    } while (0)
    SHA256_EIGHT(0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
                 0x923f82a4, 0xab1c5ed5, 0);
    SHA256_EIGHT(0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
                 0x9bdc06a7, 0xc19bf174, 4);
    SHA256_EIGHT(0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
                 0x5cb0a9dc, 0x76f988da, 8);
    SHA256_EIGHT(0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
                 0x06ca6351, 0x14292967, 12);
    SHA256_EIGHT(0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb,
                 0x81c2c92e, 0x92722c85, 16);
    SHA256_EIGHT(0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624,
                 0xf40e3585, 0x106aa070, 20);
    SHA256_EIGHT(0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
                 0x5b9cca4f, 0x682e6ff3, 24);
    SHA256_EIGHT(0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb,
                 0xbef9a3f7, 0xc67178f2, 28);
#undef SHA256_EIGHT
    st[0] += (u32)a;
    st[1] += (u32)b;
    st[2] += (u32)c;
    st[3] += (u32)d;
    st[4] += (u32)e;
    st[5] += (u32)f;
    st[6] += (u32)g;
    st[7] += (u32)h;
}

/* The second block of sha256 over exactly 64 bytes: 0x80, zeros, bit length 512. */
static const u8 SHA256_PAD64[64] __attribute__((aligned(8))) = {
    0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00,
};

static const u32 SHA256_IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

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

/* Largest input the sha256 routine accepts; bounds every loop below. The kernel verifier walks
 * every block within its 1M-instruction budget; it accepts 4096 (one short path per block count). */
#ifndef SHA256_MAX_INPUT
#define SHA256_MAX_INPUT 4096
#endif
#define SHA256_MAX_FULL_BLOCKS (SHA256_MAX_INPUT / 64)

/* All ones if x < y, else 0 (x, y < 2^63): branch-free, so the verifier walks one path. */
KEEL_INLINE u64 sha256_lt_mask(u64 x, u64 y)
{
    return (u64)((long long)(x - y) >> 63);
}

/* All ones if x == y, else 0 (x, y < 2^63). */
KEEL_INLINE u64 sha256_eq_mask(u64 x, u64 y)
{
    return (u64)0 - (((x ^ y) - 1) >> 63);
}

/* sha256(in[0..len]) for len <= SHA256_MAX_INPUT (the caller checks). The full blocks are
 * compressed straight from the input; the rem = len % 64 trailing bytes, the 0x80 marker and
 * the bit length form one final block, or two if rem > 55. Two builds of the tail:
 *
 * Kernel: branch-free, so the verifier walks one path per block count. Byte j of tail block t
 * is in[pos] masked by (pos < len), plus 0x80 where pos == len, pos = base + 64t + j. The read
 * index is masked to 0 past the end, so it stays below len (reads happen only if rem > 0, hence
 * len > 0).
 *
 * sBPF: a form the PCC certifier (pcc-verifier) proves. Every input offset is compared with
 * len itself (masked indices and len >> 6 are beyond its relational domain): the block loop
 * tests off + 64 > len, and the tail bytes in[off..len) are copied by a loop that tests
 * pos >= len into a zeroed two-block buffer, followed by the marker and the bit length. The
 * empty asm keeps clang from rewriting that test as n < len - off. This also keeps every loop
 * entered by a forward edge (in the kernel form clang enters the tail loop by a backward jump
 * into its compression, which the certificate's loop model does not admit). */
KEEL_INLINE void sha256(const u8 *in, u64 len, u8 *out)
{
    u32 st[8];
    u64 w[SHA256_SCHEDULE_PAIRS];
    sha256_init(st);
#ifdef KEEL_TARGET_KERNEL
    u64 tail[8];
    u64 full = len >> 6;
    for (u64 b = 0; b < SHA256_MAX_FULL_BLOCKS; b++) {
        if (b >= full)
            break;
        sha256_compress(st, in + (b << 6), w);
    }

    u64 base = len & ~(u64)63;
    u64 rem = len & 63;
    u64 two = (rem + 8) >> 6; /* 1 if the bit length needs a second tail block */
    u64 bits = __builtin_bswap64(len << 3);
    for (u64 t = 0; t < 2; t++) {
        if (t > two)
            break;
#pragma clang loop unroll(disable)
        for (u64 i = 0; i < 8; i++) {
            u64 word = 0;
            for (u64 k = 0; k < 8; k++) {
                u64 pos = base + (t << 6) + (i << 3) + k;
                u64 inside = sha256_lt_mask(pos, len);
                u64 v = 0;
                if (rem != 0)
                    v = in[pos & inside] & inside;
                v |= 0x80 & sha256_eq_mask(pos, len);
                word |= v << (8 * k);
            }
            tail[i] = word;
        }
        tail[7] |= bits & sha256_eq_mask(t, two);
        sha256_compress(st, (const u8 *)tail, w);
    }
#else
    u64 tail[16];
    u64 off = 0; /* bytes of the full blocks */
    for (u64 b = 0; b < SHA256_MAX_FULL_BLOCKS; b++) {
        if (off + 64 > len)
            break;
        sha256_compress(st, in + off, w);
        off += 64;
    }

    u8 *tb = (u8 *)tail;
    for (int i = 0; i < 16; i++)
        tail[i] = 0;
    u64 n = 0; /* tail bytes copied (= len - off) */
#pragma clang loop unroll(disable)
    for (; n < 64; n++) {
        u64 pos = off + n;
        __asm__ __volatile__("" : "+r"(pos));
        if (pos >= len)
            break;
        tb[n] = in[pos];
    }
    tb[n] = 0x80;
    u64 two = (n + 8) >> 6; /* 1 if the bit length needs a second tail block */
    tail[7 + 8 * two] = __builtin_bswap64(len << 3);
    sha256_compress(st, (const u8 *)tail, w);
    if (two != 0)
        sha256_compress(st, (const u8 *)(tail + 8), w);
#endif
    sha256_digest(st, out);
}

#endif
