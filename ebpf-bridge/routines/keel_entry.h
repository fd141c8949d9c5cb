/*
 * Entry wrappers: included at the end of each routine file after `#define KEEL_BODY name`.
 */
#ifndef KEEL_BODY
#error "define KEEL_BODY before including keel_entry.h"
#endif

#ifdef KEEL_TARGET_KERNEL

/* Capacity of the kernel I/O buffer; each routine checks its own, smaller limits. */
#define KEEL_KERNEL_MAX_IN 8192
#define KEEL_KERNEL_MAX_OUT 64

/*
 * Kernel calling convention: userspace writes `in_len`, `out_len` and `in` into the object's
 * .bss map, runs the program with BPF_PROG_TEST_RUN (no ctx), reads `out` back from the map.
 * A status that is not a routine status means the lengths exceeded the buffer.
 */
struct keel_io {
    u64 in_len;
    u64 out_len;
    u8 in[KEEL_KERNEL_MAX_IN];
    u8 out[KEEL_KERNEL_MAX_OUT];
};

struct keel_io keel_io __attribute__((section(".bss"), used));

__attribute__((section("syscall"), used)) int keel_entry(void *ctx)
{
    u64 in_len = keel_io.in_len;
    u64 out_len = keel_io.out_len;
    (void)ctx;
    if (in_len > KEEL_KERNEL_MAX_IN)
        return KEEL_ERR_INPUT_LEN;
    if (out_len > KEEL_KERNEL_MAX_OUT)
        return KEEL_ERR_OUTPUT_LEN;
    return (int)KEEL_BODY(keel_io.in, in_len, keel_io.out, out_len);
}

char LICENSE[] __attribute__((section("license"), used)) = "GPL";

#else

/* sBPF calling convention: r1 = input, r2 = input length, r3 = output, r4 = output length. */
u64 entrypoint(const u8 *in, u64 in_len, u8 *out, u64 out_len)
{
    return KEEL_BODY(in, in_len, out, out_len);
}

#endif
