/* Routine `keccak256`: out[0..32] = Keccak-256(in[0..in_len]) (the original Keccak padding 0x01,
 * as Ethereum uses), in_len <= 4096. */
#include "keel_routine.h"

#define KECCAK_RATE 136
/* The kernel build lowers the cap (build.rs): its verifier walks every block within 1M insns. */
#ifndef KECCAK_MAX_INPUT
#define KECCAK_MAX_INPUT 4096
#endif
#define KECCAK_MAX_FULL_BLOCKS (KECCAK_MAX_INPUT / KECCAK_RATE)

static const u64 KECCAK_RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

KEEL_INLINE u64 rol64(u64 x, u32 n)
{
    return (x << n) | (x >> (64 - n));
}

/* Keccak-f[1600] in place, lane index x + 5y. Rho and pi walk the single cycle of the pi
 * permutation with one carried lane, chi goes row by row with five temporaries: the state is the
 * only large stack object (the kernel allows 512 bytes) and every lane access has a constant
 * offset. */
KEEL_INLINE void keccak_f(u64 *s)
{
    for (int r = 0; r < 24; r++) {
        /* Keep the state in memory between rounds: otherwise the optimizer carries all 25 lanes
         * in registers across the loop and spills them past the 512-byte stack limit. */
        __asm__ __volatile__("" : : "r"(s) : "memory");
        u64 c0 = s[0] ^ s[5] ^ s[10] ^ s[15] ^ s[20];
        u64 c1 = s[1] ^ s[6] ^ s[11] ^ s[16] ^ s[21];
        u64 c2 = s[2] ^ s[7] ^ s[12] ^ s[17] ^ s[22];
        u64 c3 = s[3] ^ s[8] ^ s[13] ^ s[18] ^ s[23];
        u64 c4 = s[4] ^ s[9] ^ s[14] ^ s[19] ^ s[24];
        u64 d0 = c4 ^ rol64(c1, 1);
        u64 d1 = c0 ^ rol64(c2, 1);
        u64 d2 = c1 ^ rol64(c3, 1);
        u64 d3 = c2 ^ rol64(c4, 1);
        u64 d4 = c3 ^ rol64(c0, 1);
        __asm__ __volatile__("" : : "r"(s) : "memory");
        for (int y = 0; y < 25; y += 5) {
            s[y + 0] ^= d0;
            s[y + 1] ^= d1;
            s[y + 2] ^= d2;
            s[y + 3] ^= d3;
            s[y + 4] ^= d4;
        }
        __asm__ __volatile__("" : : "r"(s) : "memory");
        u64 cur = s[1];
        u64 nxt;
        nxt = s[10];
        s[10] = rol64(cur, 1);
        cur = nxt;
        nxt = s[7];
        s[7] = rol64(cur, 3);
        cur = nxt;
        nxt = s[11];
        s[11] = rol64(cur, 6);
        cur = nxt;
        nxt = s[17];
        s[17] = rol64(cur, 10);
        cur = nxt;
        nxt = s[18];
        s[18] = rol64(cur, 15);
        cur = nxt;
        nxt = s[3];
        s[3] = rol64(cur, 21);
        cur = nxt;
        nxt = s[5];
        s[5] = rol64(cur, 28);
        cur = nxt;
        nxt = s[16];
        s[16] = rol64(cur, 36);
        cur = nxt;
        nxt = s[8];
        s[8] = rol64(cur, 45);
        cur = nxt;
        nxt = s[21];
        s[21] = rol64(cur, 55);
        cur = nxt;
        nxt = s[24];
        s[24] = rol64(cur, 2);
        cur = nxt;
        nxt = s[4];
        s[4] = rol64(cur, 14);
        cur = nxt;
        nxt = s[15];
        s[15] = rol64(cur, 27);
        cur = nxt;
        nxt = s[23];
        s[23] = rol64(cur, 41);
        cur = nxt;
        nxt = s[19];
        s[19] = rol64(cur, 56);
        cur = nxt;
        nxt = s[13];
        s[13] = rol64(cur, 8);
        cur = nxt;
        nxt = s[12];
        s[12] = rol64(cur, 25);
        cur = nxt;
        nxt = s[2];
        s[2] = rol64(cur, 43);
        cur = nxt;
        nxt = s[20];
        s[20] = rol64(cur, 62);
        cur = nxt;
        nxt = s[14];
        s[14] = rol64(cur, 18);
        cur = nxt;
        nxt = s[22];
        s[22] = rol64(cur, 39);
        cur = nxt;
        nxt = s[9];
        s[9] = rol64(cur, 61);
        cur = nxt;
        nxt = s[6];
        s[6] = rol64(cur, 20);
        cur = nxt;
        nxt = s[1];
        s[1] = rol64(cur, 44);
        cur = nxt;
        __asm__ __volatile__("" : : "r"(s) : "memory");
        for (int y = 0; y < 25; y += 5) {
            u64 a0 = s[y + 0], a1 = s[y + 1], a2 = s[y + 2], a3 = s[y + 3], a4 = s[y + 4];
            s[y + 0] = a0 ^ (~a1 & a2);
            s[y + 1] = a1 ^ (~a2 & a3);
            s[y + 2] = a2 ^ (~a3 & a4);
            s[y + 3] = a3 ^ (~a4 & a0);
            s[y + 4] = a4 ^ (~a0 & a1);
        }
        s[0] ^= KECCAK_RC[r];
    }
}

#ifdef KEEL_TARGET_KERNEL
/* All ones if x < y, else 0 (x, y < 2^63): a mask instead of a branch, so the kernel verifier
 * walks one path through the padding instead of one per byte. */
KEEL_INLINE u64 keccak_lt_mask(u64 x, u64 y)
{
    return (u64)((long long)(x - y) >> 63);
}

/* 1 if x == y, else 0 (x, y < 2^63): the domain byte itself, without a branch. */
KEEL_INLINE u64 keccak_eq_bit(u64 x, u64 y)
{
    return ((x ^ y) - 1) >> 63;
}
#endif

KEEL_ROUTINE(keccak256_routine)
{
    if (in_len > KECCAK_MAX_INPUT)
        return KEEL_ERR_INPUT_LEN;
    if (out_len != 32)
        return KEEL_ERR_OUTPUT_LEN;
    u64 s[25];
    for (int i = 0; i < 25; i++)
        s[i] = 0;
    /* Full blocks, one 64-bit load per lane (lanes are little-endian, block offsets multiples of
     * 8). No division, so the kernel verifier keeps exact bounds on every offset.
     *
     * The sBPF build tests the block's end against in_len at the bottom of the loop, with the
     * lane loads unrolled at constant offsets from the block, so every load is bounded by
     * off + RATE <= in_len (the form the PCC certifier proves). It is compiled with source-order
     * block layout (build.rs): LLVM's block placement would otherwise move the lane loads to
     * the loop's bottom and enter the permutation's round loop head from both loops, which the
     * certificate's one-counter-per-head model cannot bound. */
    u64 off = 0;
#ifdef KEEL_TARGET_KERNEL
    u64 b = 0;
    for (; b < KECCAK_MAX_FULL_BLOCKS; b++) {
        u64 o = b * KECCAK_RATE;
        if (o + KECCAK_RATE > in_len)
            break;
        for (u64 i = 0; i < KECCAK_RATE / 8; i++)
            s[i] ^= *(const u64 *)(in + o + 8 * i);
        keccak_f(s);
    }
    off = b * KECCAK_RATE;
#else
    if (KECCAK_RATE <= in_len) {
        u64 b = 0;
        do {
            const u8 *blk = in + off;
#pragma clang loop unroll(full)
            for (u64 i = 0; i < KECCAK_RATE / 8; i++)
                s[i] ^= *(const u64 *)(blk + 8 * i);
            keccak_f(s);
            off += KECCAK_RATE;
            b++;
            __asm__ __volatile__("" : "+r"(off));
        } while (b < KECCAK_MAX_FULL_BLOCKS && off + KECCAK_RATE <= in_len);
    }
#endif
    /* The last block: the rem < RATE remaining bytes, the Keccak domain byte 0x01 right after
     * them, zeros, and 0x80 in the block's last byte. Two builds:
     *
     * Kernel: branch-free, so the verifier walks one path. Byte j is in[pos] masked by
     * (pos < in_len), pos = off + j, with the read index masked to 0 past the end (reads happen
     * only if rem > 0, hence in_len > 0).
     *
     * sBPF: the form the PCC certifier proves (it relates input offsets to the input length,
     * not masked indices): the bytes in[off..in_len) are copied by a loop that tests
     * pos >= in_len into a zeroed buffer, then the domain byte and the final bit are added. The
     * buffer has a spare word because the certifier cannot see that the copy always stops
     * before RATE; the empty asm keeps clang from rewriting the test as n < in_len - off. */
#ifdef KEEL_TARGET_KERNEL
    u64 rem = in_len - off;
#pragma clang loop unroll(disable)
    for (u64 i = 0; i < KECCAK_RATE / 8; i++) {
        u64 lane = 0;
        for (u64 k = 0; k < 8; k++) {
            u64 pos = off + 8 * i + k;
            u64 inside = keccak_lt_mask(pos, in_len);
            u64 v = 0;
            if (rem != 0)
                v = in[pos & inside] & inside;
            v |= keccak_eq_bit(pos, in_len);
            lane |= v << (8 * k);
        }
        s[i] ^= lane;
    }
    s[KECCAK_RATE / 8 - 1] ^= 0x8000000000000000ULL;
#else
    u64 last[KECCAK_RATE / 8 + 1];
    for (int i = 0; i < KECCAK_RATE / 8 + 1; i++)
        last[i] = 0;
    u8 *lb = (u8 *)last;
    u64 n = 0; /* tail bytes copied (= in_len - off) */
#pragma clang loop unroll(disable)
    for (; n < KECCAK_RATE; n++) {
        u64 pos = off + n;
        __asm__ __volatile__("" : "+r"(pos));
        if (pos >= in_len)
            break;
        lb[n] = in[pos];
    }
    lb[n] ^= 0x01;
    lb[KECCAK_RATE - 1] ^= 0x80;
    for (int i = 0; i < KECCAK_RATE / 8; i++)
        s[i] ^= last[i];
#endif
    keccak_f(s);
    for (int i = 0; i < 4; i++)
        store_le64(out + 8 * i, s[i]);
    return KEEL_OK;
}

#define KEEL_BODY keccak256_routine
#include "keel_entry.h"
