/* Tests of the token (c/token.c), run with `keel contract test`: each calls the deployed token
 * through keel_call, as another contract would; the caller is this test module. */
#include "keel_test.h"

static void u256_of(keel_u256 *v, uint64_t x) {
    memset(v, 0, sizeof *v);
    keel_store_u64_le(v->b, x);
}

static uint64_t t_balance(const keel_address *who) {
    if (KEEL_TEST_CALL("balance_of", who, 32) != KEEL_CALL_OK) KEEL_FAIL("balance_of failed");
    if (keel_return_data_size() != 32) KEEL_FAIL("balance_of returns 32 bytes");
    uint8_t out[32];
    keel_return_data_copy(out, 0, 32);
    for (int i = 8; i < 32; i++)
        if (out[i]) KEEL_FAIL("balance above 2^64");
    return keel_load_u64_le(out);
}

static int32_t t_init(uint64_t supply) {
    keel_u256 s;
    u256_of(&s, supply);
    return KEEL_TEST_CALL("init", &s, 32);
}

KEEL_EXPORT("test_init_mints_the_supply_to_the_caller")
void test_init_mints_the_supply_to_the_caller(void) {
    keel_address me;
    keel_self_address(&me);
    if (t_init(1000) != KEEL_CALL_OK) KEEL_FAIL("init failed");
    if (t_balance(&me) != 1000) KEEL_FAIL("the caller does not hold the supply");
}

KEEL_EXPORT("test_a_second_init_fails") void test_a_second_init_fails(void) {
    if (t_init(1) != KEEL_CALL_OK) KEEL_FAIL("first init failed");
    if (t_init(2) == KEEL_CALL_OK) KEEL_FAIL("second init succeeded");
}

/* A transfer of any amount to any address conserves the supply, and fails exactly when the
 * amount exceeds the sender's balance. Input: amount (8 bytes LE), recipient (32 bytes). */
KEEL_EXPORT("prop_transfer_conserves_the_supply") void prop_transfer_conserves_the_supply(void) {
    const uint64_t supply = 1000000;
    uint8_t in[40] = {0};
    int32_t n = keel_test_input_size();
    keel_test_input(in, 0, n < 40 ? n : 40);
    uint64_t amount = keel_load_u64_le(in) % (2 * supply);
    struct { keel_address to; keel_u256 amount; } args;
    memcpy(args.to.b, in + 8, 32);
    u256_of(&args.amount, amount);
    keel_address me;
    keel_self_address(&me);
    if (memcmp(me.b, args.to.b, 32) == 0) return;
    if (t_init(supply) != KEEL_CALL_OK) KEEL_FAIL("init failed");
    int32_t rc = KEEL_TEST_CALL("transfer", &args, 64);
    if (amount > supply) {
        if (rc == KEEL_CALL_OK) KEEL_FAIL("an overdraft succeeded");
        if (t_balance(&me) != supply) KEEL_FAIL("a failed transfer moved funds");
        return;
    }
    if (rc != KEEL_CALL_OK) KEEL_FAIL("a covered transfer failed");
    if (t_balance(&args.to) != amount) KEEL_FAIL("the recipient did not get the amount");
    if (t_balance(&me) + t_balance(&args.to) != supply) KEEL_FAIL("the supply is not conserved");
}
