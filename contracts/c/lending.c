/* A lending market with interest accrual in Q64.64 (the DeFi benchmark's second workload).
 * One market: lenders deposit, borrowers borrow against their own deposit (collateral factor
 * 3/4) and repay with interest. Debt is stored scaled by a global borrow index, so accrual is
 * one update of the index per block (index *= (1 + rate)^(elapsed blocks), keel_fx_pow), not
 * one per borrower: debt = scaled * index.
 *
 * Entry points (every input must have exactly the listed length, else the call aborts;
 * amounts are u64 LE below 2^40, Q64.64 values 16 bytes LE two's complement):
 *   init     in: rate_per_block(16)  out: -            creates the market (index 1.0) at this
 *                                                      height; aborts if it exists or the rate
 *                                                      is negative or >= 1
 *   deposit  in: amount(8)           out: -            caller's deposit and the cash += amount
 *   borrow   in: amount(8)           out: -            needs (debt + amount)·4 <= deposit·3 and
 *                                                      amount <= cash
 *   repay    in: amount(8)           out: paid(8)      pays min(amount, ceil(debt)); the whole
 *                                                      debt is cleared when amount covers it
 *   account  in: who(32)             out: deposit(8) debt(8)   debt rounded up, at this height
 *   market   in: -                   out: index(16) cash(8) deposits(8)   index at this height
 *
 * Storage: "m" -> index(16) rate(16) last_height(8) cash(8) deposits(8);
 *          "d"||who(32) -> deposit(8); "b"||who(32) -> scaled debt (Q64.64, 16).
 * Conservation: cash = deposits - borrowed + paid (every transfer of value goes through cash).
 * Events: "Borrow" and "Repay", data who(32)||amount(8).
 */
#include "keel_runtime.h"

typedef struct {
    keel_fx index;
    keel_fx rate;
    uint64_t last;
    uint64_t cash;
    uint64_t deposits;
} market;

typedef struct { uint8_t b[1 + 32]; } account_key;

#define AMOUNT_BITS 40

static void check(int32_t status) {
    if (status != KEEL_OK) KEEL_FAIL("lending: fixed-point overflow");
}

static keel_fx fx_int(uint64_t v) {
    keel_fx f;
    keel_store_u64_le(f.b, 0);
    keel_store_u64_le(f.b + 8, v);
    return f;
}

static uint64_t fx_lo(const keel_fx *f) { return keel_load_u64_le(f->b); }
static uint64_t fx_hi(const keel_fx *f) { return keel_load_u64_le(f->b + 8); }

/* ceil of a non-negative Q64.64 value. */
static uint64_t fx_ceil(const keel_fx *f) { return fx_hi(f) + (fx_lo(f) != 0); }

static int load_market(market *m) {
    uint8_t v[56];
    int32_t len = keel_storage_read("m", 1, v, 56);
    if (len == -1) return 0;
    if (len != 56) KEEL_FAIL("lending: corrupt market");
    memcpy(m->index.b, v, 16);
    memcpy(m->rate.b, v + 16, 16);
    m->last = keel_load_u64_le(v + 32);
    m->cash = keel_load_u64_le(v + 40);
    m->deposits = keel_load_u64_le(v + 48);
    return 1;
}

static void store_market(const market *m) {
    uint8_t v[56];
    memcpy(v, m->index.b, 16);
    memcpy(v + 16, m->rate.b, 16);
    keel_store_u64_le(v + 32, m->last);
    keel_store_u64_le(v + 40, m->cash);
    keel_store_u64_le(v + 48, m->deposits);
    keel_storage_write("m", 1, v, 56);
}

/* Brings the index to this block: index *= (1 + rate)^(height - last). */
static void accrue(market *m) {
    uint64_t now = (uint64_t)keel_block_height();
    if (now <= m->last) return;
    keel_fx base = m->rate;
    keel_store_u64_le(base.b + 8, fx_hi(&m->rate) + 1);
    keel_fx elapsed = fx_int(now - m->last), growth, index;
    check(keel_fx_pow(&base, &elapsed, &growth));
    check(keel_fx_mul(&m->index, &growth, &index));
    m->index = index;
    m->last = now;
}

static market open_market(void) {
    market m;
    if (!load_market(&m)) KEEL_FAIL("lending: no market");
    accrue(&m);
    return m;
}

static account_key key_of(uint8_t tag, const uint8_t *who) {
    account_key k;
    k.b[0] = tag;
    memcpy(&k.b[1], who, 32);
    return k;
}

static uint64_t load_deposit(const uint8_t *who) {
    account_key k = key_of('d', who);
    uint8_t v[8];
    int32_t len = keel_storage_read(k.b, 33, v, 8);
    if (len == -1) return 0;
    if (len != 8) KEEL_FAIL("lending: corrupt deposit");
    return keel_load_u64_le(v);
}

static keel_fx load_scaled(const uint8_t *who) {
    account_key k = key_of('b', who);
    keel_fx f = fx_int(0);
    int32_t len = keel_storage_read(k.b, 33, f.b, 16);
    if (len == -1) return fx_int(0);
    if (len != 16) KEEL_FAIL("lending: corrupt debt");
    return f;
}

static void store_scaled(const uint8_t *who, const keel_fx *scaled) {
    account_key k = key_of('b', who);
    if (fx_lo(scaled) == 0 && fx_hi(scaled) == 0) keel_storage_remove(k.b, 33);
    else keel_storage_write(k.b, 33, scaled->b, 16);
}

static keel_fx debt_of(const market *m, const keel_fx *scaled) {
    keel_fx debt;
    check(keel_fx_mul(scaled, &m->index, &debt));
    return debt;
}

static uint64_t input_amount(void) {
    uint8_t in[8];
    keel_input_exact(in, 8);
    uint64_t amount = keel_load_u64_le(in);
    if (amount == 0 || (amount >> AMOUNT_BITS) != 0) KEEL_FAIL("lending: bad amount");
    return amount;
}

#define EMIT(topic, who, amount) emit((topic), (int32_t)(sizeof(topic) - 1), (who), (amount))

static void emit(const char *topic, int32_t topic_len, const uint8_t *who, uint64_t amount) {
    uint8_t ev[40];
    memcpy(ev, who, 32);
    keel_store_u64_le(ev + 32, amount);
    keel_emit_event(topic, topic_len, ev, 40);
}

KEEL_EXPORT("init") void init(void) {
    market m;
    if (load_market(&m)) KEEL_FAIL("lending: market exists");
    keel_input_exact(m.rate.b, 16);
    if (fx_hi(&m.rate) != 0) KEEL_FAIL("lending: rate out of range");
    m.index = fx_int(1);
    m.last = (uint64_t)keel_block_height();
    m.cash = 0;
    m.deposits = 0;
    store_market(&m);
}

KEEL_EXPORT("deposit") void deposit(void) {
    uint64_t amount = input_amount();
    market m = open_market();
    keel_address who;
    keel_caller(&who);
    uint64_t held = load_deposit(who.b);
    if ((held >> AMOUNT_BITS) != 0 || (m.deposits >> 62) != 0) KEEL_FAIL("lending: overflow");
    account_key k = key_of('d', who.b);
    uint8_t v[8];
    keel_store_u64_le(v, held + amount);
    keel_storage_write(k.b, 33, v, 8);
    m.cash += amount;
    m.deposits += amount;
    store_market(&m);
}

KEEL_EXPORT("borrow") void borrow(void) {
    uint64_t amount = input_amount();
    market m = open_market();
    keel_address who;
    keel_caller(&who);
    keel_fx scaled = load_scaled(who.b);
    keel_fx debt = debt_of(&m, &scaled);
    uint64_t owed = fx_ceil(&debt);
    uint64_t collateral = load_deposit(who.b);
    if ((owed >> AMOUNT_BITS) != 0) KEEL_FAIL("lending: overflow");
    if ((owed + amount) * 4 > collateral * 3) KEEL_FAIL("lending: undercollateralised");
    if (amount > m.cash) KEEL_FAIL("lending: insufficient cash");
    keel_fx principal = fx_int(amount), added, total;
    check(keel_fx_div(&principal, &m.index, &added));
    uint64_t lo = fx_lo(&scaled) + fx_lo(&added);
    uint64_t hi = fx_hi(&scaled) + fx_hi(&added) + (lo < fx_lo(&added));
    keel_store_u64_le(total.b, lo);
    keel_store_u64_le(total.b + 8, hi);
    store_scaled(who.b, &total);
    m.cash -= amount;
    store_market(&m);
    EMIT("Borrow", who.b, amount);
}

KEEL_EXPORT("repay") void repay(void) {
    uint64_t amount = input_amount();
    market m = open_market();
    keel_address who;
    keel_caller(&who);
    keel_fx scaled = load_scaled(who.b);
    keel_fx debt = debt_of(&m, &scaled);
    uint64_t owed = fx_ceil(&debt);
    if (owed == 0) KEEL_FAIL("lending: no debt");
    uint64_t paid = amount < owed ? amount : owed;
    keel_fx rest = fx_int(0);
    if (paid < owed) {
        keel_fx paid_fx = fx_int(paid), cleared;
        check(keel_fx_div(&paid_fx, &m.index, &cleared));
        uint64_t lo = fx_lo(&scaled) - fx_lo(&cleared);
        uint64_t hi = fx_hi(&scaled) - fx_hi(&cleared) - (fx_lo(&scaled) < fx_lo(&cleared));
        /* Rounding can leave cleared a hair above scaled; the debt is then fully paid. */
        if ((int64_t)hi >= 0) {
            keel_store_u64_le(rest.b, lo);
            keel_store_u64_le(rest.b + 8, hi);
        }
    }
    store_scaled(who.b, &rest);
    if (m.cash > UINT64_MAX - paid) KEEL_FAIL("lending: overflow");
    m.cash += paid;
    store_market(&m);
    EMIT("Repay", who.b, paid);
    uint8_t out[8];
    keel_store_u64_le(out, paid);
    keel_return_data(out, 8);
}

KEEL_EXPORT("account") void account(void) {
    uint8_t who[32];
    keel_input_exact(who, 32);
    market m = open_market();
    keel_fx scaled = load_scaled(who);
    keel_fx debt = debt_of(&m, &scaled);
    uint8_t out[16];
    keel_store_u64_le(out, load_deposit(who));
    keel_store_u64_le(out + 8, fx_ceil(&debt));
    keel_return_data(out, 16);
}

KEEL_EXPORT("market") void market_state(void) {
    uint8_t none[1];
    keel_input_exact(none, 0);
    market m = open_market();
    uint8_t out[32];
    memcpy(out, m.index.b, 16);
    keel_store_u64_le(out + 16, m.cash);
    keel_store_u64_le(out + 24, m.deposits);
    keel_return_data(out, 32);
}
