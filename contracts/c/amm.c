/* Constant-product AMM (x·y = k) with many pools in one contract: the benchmark's high-conflict
 * workload (every swap on one pool reads and writes that pool's reserves).
 *
 * Entry points (every input must have exactly the listed length, else the call aborts;
 * integers are u64 LE):
 *   init  in: pool(8) reserve_a(8) reserve_b(8)   out: -          creates the pool; aborts if it
 *                                                                 exists or a reserve is 0
 *   swap  in: pool(8) amount_in(8) min_out(8)     out: out(8)     sells amount_in of A for B:
 *                                                                 out = rb·in / (ra + in), minus
 *                                                                 a 0.3 % fee kept in the pool;
 *                                                                 amount_in < 2^40, reserve B
 *                                                                 < 2^32
 *   pool  in: pool(8)                             out: ra(8) rb(8)
 *
 * Storage: "p"||pool(8) -> ra(8)||rb(8); "h"||caller(32) -> B bought by the caller so far (8).
 * Events: topic "Swap", data pool(8)||caller(32)||in(8)||out(8).
 * Failures abort with a message: "amm: no pool", "amm: slippage", "amm: overflow", ...
 */
#include "keel_runtime.h"

typedef struct { uint8_t b[1 + 8]; } pool_key;

/* The fee denominator, opaque to the optimizer: a division by a constant would be lowered to a
 * 128-bit multiply (__multi3), which the freestanding runtime does not provide. */
static volatile uint64_t FEE_DEN = 1000;
typedef struct { uint8_t b[1 + 32]; } holding_key;

static pool_key key_of(uint64_t pool) {
    pool_key k;
    k.b[0] = 'p';
    keel_store_u64_le(&k.b[1], pool);
    return k;
}

/* Reads a pool's reserves; returns 0 if the pool does not exist. */
static int load_pool(uint64_t pool, uint64_t *ra, uint64_t *rb) {
    pool_key k = key_of(pool);
    uint8_t v[16];
    int32_t len = keel_storage_read(k.b, 9, v, 16);
    if (len == -1) return 0;
    if (len != 16) KEEL_FAIL("amm: corrupt pool");
    *ra = keel_load_u64_le(v);
    *rb = keel_load_u64_le(v + 8);
    return 1;
}

static void store_pool(uint64_t pool, uint64_t ra, uint64_t rb) {
    pool_key k = key_of(pool);
    uint8_t v[16];
    keel_store_u64_le(v, ra);
    keel_store_u64_le(v + 8, rb);
    keel_storage_write(k.b, 9, v, 16);
}

KEEL_EXPORT("init") void init(void) {
    uint8_t in[24];
    keel_input_exact(in, 24);
    uint64_t pool = keel_load_u64_le(in), ra, rb;
    if (load_pool(pool, &ra, &rb)) KEEL_FAIL("amm: pool exists");
    ra = keel_load_u64_le(in + 8);
    rb = keel_load_u64_le(in + 16);
    if (ra == 0 || rb == 0) KEEL_FAIL("amm: empty reserve");
    store_pool(pool, ra, rb);
}

KEEL_EXPORT("swap") void swap(void) {
    uint8_t in[24];
    keel_input_exact(in, 24);
    uint64_t pool = keel_load_u64_le(in);
    uint64_t amount = keel_load_u64_le(in + 8);
    uint64_t min_out = keel_load_u64_le(in + 16);
    uint64_t ra, rb;
    if (!load_pool(pool, &ra, &rb)) KEEL_FAIL("amm: no pool");
    /* 0.3 % fee: only 997/1000 of the input trades. */
    /* Bounds instead of `x > MAX / y` checks, which LLVM turns into a 128-bit multiply:
     * amount < 2^40 keeps amount·997 below 2^50; rb, traded < 2^32 keep rb·traded below 2^64. */
    if ((amount >> 40) != 0) KEEL_FAIL("amm: overflow");
    uint64_t traded = amount * 997 / FEE_DEN;
    if ((rb >> 32) != 0 || (traded >> 32) != 0) KEEL_FAIL("amm: overflow");
    if (ra > UINT64_MAX - amount) KEEL_FAIL("amm: overflow");
    uint64_t out = rb * traded / (ra + traded);
    if (out < min_out || out == 0) KEEL_FAIL("amm: slippage");
    store_pool(pool, ra + amount, rb - out);

    holding_key hk;
    hk.b[0] = 'h';
    keel_caller((keel_address *)&hk.b[1]);
    uint8_t held[8];
    uint64_t total = 0;
    int32_t len = keel_storage_read(hk.b, 33, held, 8);
    if (len == 8) total = keel_load_u64_le(held);
    else if (len != -1) KEEL_FAIL("amm: corrupt holding");
    if (total > UINT64_MAX - out) KEEL_FAIL("amm: overflow");
    keel_store_u64_le(held, total + out);
    keel_storage_write(hk.b, 33, held, 8);

    uint8_t ev[56];
    keel_store_u64_le(ev, pool);
    memcpy(ev + 8, &hk.b[1], 32);
    keel_store_u64_le(ev + 40, amount);
    keel_store_u64_le(ev + 48, out);
    keel_emit_event("Swap", 4, ev, 56);
    uint8_t ret[8];
    keel_store_u64_le(ret, out);
    keel_return_data(ret, 8);
}

KEEL_EXPORT("pool") void pool(void) {
    uint8_t in[8];
    keel_input_exact(in, 8);
    uint64_t ra, rb;
    if (!load_pool(keel_load_u64_le(in), &ra, &rb)) KEEL_FAIL("amm: no pool");
    uint8_t v[16];
    keel_store_u64_le(v, ra);
    keel_store_u64_le(v + 8, rb);
    keel_return_data(v, 16);
}
