/* ERC-20-style token with u256 balances (all arithmetic through the keel_u256_* intrinsics).
 *
 * Entry points (every input must have exactly the listed length, else the call aborts;
 * addresses are 32 bytes, amounts are u256 as 32 bytes LE):
 *   init          in: supply(32)                   out: -        mints supply to the caller;
 *                                                                aborts if already initialised
 *   transfer      in: to(32) amount(32)            out: -        caller -> to
 *   balance_of    in: owner(32)                    out: u256(32)
 *   total_supply  in: -                            out: u256(32)
 *   approve       in: spender(32) amount(32)       out: -        allowance[caller][spender] = amount
 *   transfer_from in: from(32) to(32) amount(32)   out: -        spends allowance[from][caller]
 *   allowance     in: owner(32) spender(32)        out: u256(32)
 *
 * Storage: "s" -> total supply; "b"||owner -> balance; "a"||owner||spender -> allowance.
 * Zero balances and allowances are removed rather than stored, so state (and rent) stays small.
 * Events: topic "Transfer", data from(32)||to(32)||amount(32) (from = 32 zero bytes on mint);
 *         topic "Approval", data owner(32)||spender(32)||amount(32).
 * Failures abort with a message: "insufficient balance", "insufficient allowance", ...
 */
#include "keel_runtime.h"

#define KEY_BALANCE 'b'
#define KEY_ALLOWANCE 'a'

typedef struct { uint8_t b[1 + 32 + 32]; int32_t len; } storage_key;

static storage_key balance_key(const keel_address *owner) {
    storage_key k;
    k.b[0] = KEY_BALANCE;
    memcpy(&k.b[1], owner->b, 32);
    k.len = 33;
    return k;
}

static storage_key allowance_key(const keel_address *owner, const keel_address *spender) {
    storage_key k;
    k.b[0] = KEY_ALLOWANCE;
    memcpy(&k.b[1], owner->b, 32);
    memcpy(&k.b[33], spender->b, 32);
    k.len = 65;
    return k;
}

static storage_key supply_key(void) {
    storage_key k;
    k.b[0] = 's';
    k.len = 1;
    return k;
}

static int is_zero(const keel_u256 *v) {
    for (int i = 0; i < 32; i++) {
        if (v->b[i] != 0) return 0;
    }
    return 1;
}

/* Absent keys read as zero; any stored value that is not 32 bytes is corrupt state. */
static keel_u256 load(const storage_key *k) {
    keel_u256 v;
    memset(&v, 0, sizeof v);
    int32_t len = keel_storage_read(k->b, k->len, v.b, 32);
    if (len == -1) {
        memset(&v, 0, sizeof v);
        return v;
    }
    if (len != 32) KEEL_FAIL("token: corrupt storage value");
    return v;
}

static void store(const storage_key *k, const keel_u256 *v) {
    if (is_zero(v)) {
        keel_storage_remove(k->b, k->len);
    } else {
        keel_storage_write(k->b, k->len, v->b, 32);
    }
}

static void emit3(const char *topic, int32_t topic_len, const keel_address *x,
                  const keel_address *y, const keel_u256 *amount) {
    uint8_t data[96];
    memcpy(data, x->b, 32);
    memcpy(data + 32, y->b, 32);
    memcpy(data + 64, amount->b, 32);
    keel_emit_event(topic, topic_len, data, 96);
}

static void emit_transfer(const keel_address *from, const keel_address *to, const keel_u256 *amount) {
    emit3("Transfer", 8, from, to, amount);
}

/* Moves amount from -> to. The debit is stored before the credit is read, so a transfer to
 * oneself leaves the balance unchanged. */
static void move(const keel_address *from, const keel_address *to, const keel_u256 *amount) {
    storage_key fk = balance_key(from);
    keel_u256 bal = load(&fk);
    if (keel_u256_cmp(&bal, amount) < 0) KEEL_FAIL("insufficient balance");
    keel_u256 next;
    keel_u256_sub(&bal, amount, &next);
    store(&fk, &next);

    storage_key tk = balance_key(to);
    bal = load(&tk);
    if (keel_u256_add(&bal, amount, &next) != KEEL_OK) KEEL_FAIL("token: balance overflow");
    store(&tk, &next);
    emit_transfer(from, to, amount);
}

KEEL_EXPORT("init") void init(void) {
    keel_u256 supply;
    keel_input_exact(&supply, 32);
    storage_key sk = supply_key();
    if (keel_storage_read(sk.b, sk.len, 0, 0) != -1) KEEL_FAIL("token: already initialised");
    /* Written even when zero so a second init still sees the token as initialised. */
    keel_storage_write(sk.b, sk.len, supply.b, 32);
    keel_address caller, zero;
    keel_caller(&caller);
    memset(&zero, 0, sizeof zero);
    storage_key ck = balance_key(&caller);
    store(&ck, &supply);
    emit_transfer(&zero, &caller, &supply);
}

KEEL_EXPORT("transfer") void transfer(void) {
    struct { keel_address to; keel_u256 amount; } in;
    keel_input_exact(&in, 64);
    keel_address caller;
    keel_caller(&caller);
    move(&caller, &in.to, &in.amount);
}

KEEL_EXPORT("balance_of") void balance_of(void) {
    keel_address owner;
    keel_input_exact(&owner, 32);
    storage_key k = balance_key(&owner);
    keel_u256 bal = load(&k);
    keel_return_data(bal.b, 32);
}

KEEL_EXPORT("total_supply") void total_supply(void) {
    keel_input_exact(0, 0);
    storage_key k = supply_key();
    keel_u256 supply = load(&k);
    keel_return_data(supply.b, 32);
}

KEEL_EXPORT("approve") void approve(void) {
    struct { keel_address spender; keel_u256 amount; } in;
    keel_input_exact(&in, 64);
    keel_address caller;
    keel_caller(&caller);
    storage_key k = allowance_key(&caller, &in.spender);
    store(&k, &in.amount);
    emit3("Approval", 8, &caller, &in.spender, &in.amount);
}

KEEL_EXPORT("transfer_from") void transfer_from(void) {
    struct { keel_address from; keel_address to; keel_u256 amount; } in;
    keel_input_exact(&in, 96);
    keel_address caller;
    keel_caller(&caller);
    storage_key k = allowance_key(&in.from, &caller);
    keel_u256 allowed = load(&k);
    if (keel_u256_cmp(&allowed, &in.amount) < 0) KEEL_FAIL("insufficient allowance");
    keel_u256 rest;
    keel_u256_sub(&allowed, &in.amount, &rest);
    store(&k, &rest);
    move(&in.from, &in.to, &in.amount);
}

KEEL_EXPORT("allowance") void allowance(void) {
    struct { keel_address owner; keel_address spender; } in;
    keel_input_exact(&in, 64);
    storage_key k = allowance_key(&in.owner, &in.spender);
    keel_u256 allowed = load(&k);
    keel_return_data(allowed.b, 32);
}
