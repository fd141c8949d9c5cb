/*
 * Shared definitions for Keel native routines.
 *
 * Every routine is written once as `KEEL_ROUTINE(name) { ... }` and compiled twice:
 *   - for solana-sbpf (SBPF v0): `entrypoint(in, in_len, out, out_len)` in r1..r4, status in r0;
 *   - for the kernel (-DKEEL_TARGET_KERNEL): a BPF_PROG_TYPE_SYSCALL program whose buffers live in
 *     a global `keel_io` (the object's .bss map), see keel_entry.h.
 * The algorithm code is the same source in both builds; only the entry wrapper differs.
 *
 * Rules that keep both the sBPF verifier and the kernel verifier happy:
 *   - one function per program: everything is always_inline (no bpf-to-bpf calls);
 *   - every loop has a constant trip count (data-dependent exits are `break`s);
 *   - no mutable globals (constants in .rodata are fine); stack use under 512 bytes;
 *   - inline asm only where register allocation is the point (sha256.h's block function), with
 *     every operand declared: it is the same BPF either way, and both verifiers see only that.
 */
#ifndef KEEL_ROUTINE_H
#define KEEL_ROUTINE_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

#define KEEL_INLINE static inline __attribute__((always_inline))

/* Status codes returned in r0; mirrored by `RoutineStatus` on the Rust side. */
#define KEEL_OK 0
#define KEEL_ERR_INPUT_LEN 1
#define KEEL_ERR_OUTPUT_LEN 2
#define KEEL_ERR_INPUT_VALUE 3

/* The routine body: (input, input length, output, output length) -> status. */
#define KEEL_ROUTINE(name) \
    KEEL_INLINE u64 name(const u8 *in, u64 in_len, u8 *out, u64 out_len)

KEEL_INLINE u32 load_be32(const u8 *p)
{
    return ((u32)p[0] << 24) | ((u32)p[1] << 16) | ((u32)p[2] << 8) | (u32)p[3];
}

KEEL_INLINE void store_be32(u8 *p, u32 v)
{
    p[0] = (u8)(v >> 24);
    p[1] = (u8)(v >> 16);
    p[2] = (u8)(v >> 8);
    p[3] = (u8)v;
}

KEEL_INLINE u32 load_le32(const u8 *p)
{
    return (u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24);
}

KEEL_INLINE u64 load_le64(const u8 *p)
{
    return (u64)load_le32(p) | ((u64)load_le32(p + 4) << 32);
}

KEEL_INLINE void store_le32(u8 *p, u32 v)
{
    p[0] = (u8)v;
    p[1] = (u8)(v >> 8);
    p[2] = (u8)(v >> 16);
    p[3] = (u8)(v >> 24);
}

KEEL_INLINE void store_le64(u8 *p, u64 v)
{
    store_le32(p, (u32)v);
    store_le32(p + 4, (u32)(v >> 32));
}

#endif
