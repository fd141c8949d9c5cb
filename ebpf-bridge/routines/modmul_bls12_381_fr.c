/*
 * Routine `modmul_bls12_381_fr`: out = a * b mod r, r the BLS12-381 scalar field order
 *   r = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001.
 * Input: a[32] | b[32], each a little-endian integer that must be < r (else KEEL_ERR_INPUT_VALUE).
 * Output: 32 bytes little-endian, fully reduced.
 * Method: Montgomery multiplication (CIOS) with 32-bit limbs held in u64, because BPF has no
 * 64x64->128 multiply: mont(mont(a, b), R^2 mod r) = a * b mod r with R = 2^256.
 */
#include "keel_routine.h"

#define LIMBS 8
#define MASK32 0xffffffffULL

static const u64 FR_MODULUS[LIMBS] = {
    0x00000001, 0xffffffff, 0xfffe5bfe, 0x53bda402, 0x09a1d805, 0x3339d808, 0x299d7d48, 0x73eda753,
};

/* R^2 mod r, R = 2^256. */
static const u64 FR_R2[LIMBS] = {
    0xf3f29c6d, 0xc999e990, 0x87925c23, 0x2b6cedcb, 0x7254398f, 0x05d31496, 0x9f59ff11, 0x0748d9d9,
};

/* -r^-1 mod 2^32. */
#define FR_N0 0xffffffffULL

/* 1 if x < r, comparing from the most significant limb. */
KEEL_INLINE u64 fr_lt_modulus(const u64 *x)
{
    u64 lt = 0, decided = 0;
    for (int i = LIMBS - 1; i >= 0; i--) {
        u64 xi = x[i], mi = FR_MODULUS[i];
        if (!decided && xi != mi) {
            lt = xi < mi;
            decided = 1;
        }
    }
    return lt;
}

/* res = a * b * R^-1 mod r for a, b < r (res < r). */
KEEL_INLINE void fr_mont_mul(const u64 *a, const u64 *b, u64 *res)
{
    u64 t[LIMBS + 2];
    for (int i = 0; i < LIMBS + 2; i++)
        t[i] = 0;
    for (int i = 0; i < LIMBS; i++) {
        u64 carry = 0;
        u64 bi = b[i];
        for (int j = 0; j < LIMBS; j++) {
            u64 v = t[j] + a[j] * bi + carry; /* < 2^64: (2^32-1)^2 + 2 * (2^32-1) */
            t[j] = v & MASK32;
            carry = v >> 32;
        }
        u64 v = t[LIMBS] + carry;
        t[LIMBS] = v & MASK32;
        t[LIMBS + 1] = v >> 32;
        u64 m = (t[0] * FR_N0) & MASK32;
        v = t[0] + m * FR_MODULUS[0];
        carry = v >> 32;
        for (int j = 1; j < LIMBS; j++) {
            v = t[j] + m * FR_MODULUS[j] + carry;
            t[j - 1] = v & MASK32;
            carry = v >> 32;
        }
        v = t[LIMBS] + carry;
        t[LIMBS - 1] = v & MASK32;
        t[LIMBS] = t[LIMBS + 1] + (v >> 32);
    }
    /* t < 2r: subtract r once if t >= r (t[LIMBS] holds the 257th bit). */
    u64 diff[LIMBS];
    u64 borrow = 0;
    for (int j = 0; j < LIMBS; j++) {
        u64 v = t[j] - FR_MODULUS[j] - borrow;
        diff[j] = v & MASK32;
        borrow = (v >> 63) & 1;
    }
    u64 use_diff = t[LIMBS] != 0 || borrow == 0;
    for (int j = 0; j < LIMBS; j++)
        res[j] = use_diff ? diff[j] : t[j];
}

KEEL_ROUTINE(modmul_bls12_381_fr_routine)
{
    if (in_len != 64)
        return KEEL_ERR_INPUT_LEN;
    if (out_len != 32)
        return KEEL_ERR_OUTPUT_LEN;
    u64 a[LIMBS], b[LIMBS], ab[LIMBS], res[LIMBS];
    for (int i = 0; i < LIMBS; i++) {
        a[i] = load_le32(in + 4 * i);
        b[i] = load_le32(in + 32 + 4 * i);
    }
    if (!fr_lt_modulus(a) || !fr_lt_modulus(b))
        return KEEL_ERR_INPUT_VALUE;
    fr_mont_mul(a, b, ab);
    fr_mont_mul(ab, FR_R2, res);
    for (int i = 0; i < LIMBS; i++)
        store_le32(out + 4 * i, (u32)res[i]);
    return KEEL_OK;
}

#define KEEL_BODY modmul_bls12_381_fr_routine
#include "keel_entry.h"
