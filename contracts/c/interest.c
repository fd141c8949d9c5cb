/* Fixed-point interest calculator over Q64.64 values (16 bytes LE two's complement,
 * value = raw / 2^64), using the keel_fx_* intrinsics for everything but the 1 + rate add.
 *
 * Entry points (input must be exactly 48 bytes, else the call aborts):
 *   compound    in: principal(16) rate(16) periods(16)  out: principal * (1 + rate)^periods (16)
 *   continuous  in: principal(16) rate(16) time(16)     out: principal * e^(rate * time)     (16)
 * Any intrinsic status other than KEEL_OK aborts with a message naming the step and the status,
 * so a result is only ever returned when every step was exact to the intrinsic's definition.
 */
#include "keel_runtime.h"

typedef struct { keel_fx principal; keel_fx rate; keel_fx span; } interest_input;

static void check(int32_t status, const char *step, int32_t step_len) {
    if (status == KEEL_OK) return;
    /* "interest: <step>: <reason>" built on the stack; the pieces are short literals. */
    char msg[64];
    int32_t n = 0;
    const char *prefix = "interest: ";
    for (int32_t i = 0; prefix[i]; i++) msg[n++] = prefix[i];
    for (int32_t i = 0; i < step_len; i++) msg[n++] = step[i];
    msg[n++] = ':';
    msg[n++] = ' ';
    const char *reason = status == KEEL_OVERFLOW   ? "overflow"
                         : status == KEEL_DIV_ZERO ? "division by zero"
                         : status == KEEL_DOMAIN   ? "domain error"
                                                   : "unknown status";
    for (int32_t i = 0; reason[i]; i++) msg[n++] = reason[i];
    keel_abort(msg, n);
}

#define CHECK(status, step) check((status), (step), (int32_t)(sizeof(step) - 1))

/* 1 + rate as a 128-bit two's complement add of 2^64 (the raw form of 1.0) to the high limb.
 * Signed overflow happens only when rate's high limb is INT64_MAX. */
static keel_fx one_plus(const keel_fx *rate) {
    uint64_t lo = keel_load_u64_le(rate->b);
    uint64_t hi = keel_load_u64_le(rate->b + 8);
    if (hi == 0x7fffffffffffffffULL) CHECK(KEEL_OVERFLOW, "1 + rate");
    keel_fx out;
    keel_store_u64_le(out.b, lo);
    keel_store_u64_le(out.b + 8, hi + 1);
    return out;
}

KEEL_EXPORT("compound") void compound(void) {
    interest_input in;
    keel_input_exact(&in, 48);
    keel_fx base = one_plus(&in.rate);
    keel_fx growth, out;
    CHECK(keel_fx_pow(&base, &in.span, &growth), "pow");
    CHECK(keel_fx_mul(&in.principal, &growth, &out), "mul");
    keel_return_data(out.b, 16);
}

KEEL_EXPORT("continuous") void continuous(void) {
    interest_input in;
    keel_input_exact(&in, 48);
    keel_fx exponent, growth, out;
    CHECK(keel_fx_mul(&in.rate, &in.span, &exponent), "rate * time");
    CHECK(keel_fx_exp(&exponent, &growth), "exp");
    CHECK(keel_fx_mul(&in.principal, &growth, &out), "mul");
    keel_return_data(out.b, 16);
}
