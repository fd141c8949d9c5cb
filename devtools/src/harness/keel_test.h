/* Keel contract tests (`keel contract test`): export test_* (run once) and prop_* (run on
 * generated inputs, shrunk to a minimal failing one) from a file listed under `tests` in
 * keel.toml. A test fails by trapping (KEEL_FAIL, keel_abort, any trap). Each case is a
 * transaction on a fresh chain where the contract under test is deployed; the test module
 * (sources + tests, linked together) is deployed beside it, so a test may call the contract's
 * C functions directly or reach the deployed contract with keel_call. */
#ifndef KEEL_TEST_H
#define KEEL_TEST_H

#include "keel_runtime.h"

/* The deployed contract under test (its address is the first 32 bytes of every test input). */
static inline void keel_test_contract(keel_address *out) { keel_input_copy(out, 0, 32); }

/* Size of the generated input (0 for test_*). */
static inline int32_t keel_test_input_size(void) { return keel_input_size() - 32; }

/* Copies `len` bytes of the generated input from `offset`. */
static inline void keel_test_input(void *dst, int32_t offset, int32_t len) {
    keel_input_copy(dst, 32 + offset, len);
}

/* Calls `entry` of the contract under test with `in`; returns KEEL_CALL_OK or why not. The
 * return data is then read with keel_return_data_size/keel_return_data_copy. */
static inline int32_t keel_test_call(const char *entry, int32_t entry_len, const void *in,
                                     int32_t in_len) {
    keel_address target;
    keel_test_contract(&target);
    int32_t h = keel_handle_for_contract(&target);
    keel_u256 zero = {{0}};
    uint64_t gas[4] = {10000000, 50000, 16, 50000};
    return keel_call(h, entry, entry_len, in, in_len, &zero, gas, 0, 0);
}

#define KEEL_TEST_CALL(lit, in, in_len) keel_test_call((lit), (int32_t)(sizeof(lit) - 1), (in), (in_len))

#endif
