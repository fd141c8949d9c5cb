/* A non-fungible token: sequential ids minted by an owner-less open mint, transferred by their
 * owner (the Gaming benchmark's mint/transfer workload: every move touches the item's owner
 * record and two holders' counts).
 *
 * Entry points (every input must have exactly the listed length, else the call aborts;
 * addresses are 32 bytes, ids and counts u64 LE):
 *   mint      in: to(32)          out: id(8)     the next id (0, 1, ...) now owned by `to`
 *   transfer  in: id(8) to(32)    out: -         only the id's owner may move it; to != owner
 *   owner_of  in: id(8)           out: owner(32) aborts if the id was never minted
 *   balance   in: holder(32)      out: count(8)
 *   supply    in: -               out: minted(8)
 *
 * Storage: "n" -> ids minted (8); "o"||id(8) -> owner(32); "c"||holder(32) -> count(8), removed
 * at 0. Conservation: the counts sum to the supply; each id has exactly one owner.
 * Events: topic "Transfer", data from(32)||to(32)||id(8) (from = 32 zero bytes on mint).
 */
#include "keel_runtime.h"

typedef struct { uint8_t b[1 + 8]; } owner_key;
typedef struct { uint8_t b[1 + 32]; } count_key;

static owner_key owner_key_of(uint64_t id) {
    owner_key k;
    k.b[0] = 'o';
    keel_store_u64_le(&k.b[1], id);
    return k;
}

static count_key count_key_of(const uint8_t *holder) {
    count_key k;
    k.b[0] = 'c';
    memcpy(&k.b[1], holder, 32);
    return k;
}

static uint64_t read_u64(const void *key, int32_t key_len) {
    uint8_t v[8];
    int32_t len = keel_storage_read(key, key_len, v, 8);
    if (len == -1) return 0;
    if (len != 8) KEEL_FAIL("nft: corrupt counter");
    return keel_load_u64_le(v);
}

static void write_count(const uint8_t *holder, uint64_t count) {
    count_key k = count_key_of(holder);
    if (count == 0) {
        keel_storage_remove(k.b, 33);
        return;
    }
    uint8_t v[8];
    keel_store_u64_le(v, count);
    keel_storage_write(k.b, 33, v, 8);
}

static void add_count(const uint8_t *holder, int up) {
    count_key k = count_key_of(holder);
    uint64_t count = read_u64(k.b, 33);
    if (up) {
        if (count == UINT64_MAX) KEEL_FAIL("nft: overflow");
        write_count(holder, count + 1);
    } else {
        if (count == 0) KEEL_FAIL("nft: corrupt count");
        write_count(holder, count - 1);
    }
}

/* The id's owner; aborts if it was never minted. */
static void load_owner(uint64_t id, uint8_t *owner) {
    owner_key k = owner_key_of(id);
    if (keel_storage_read(k.b, 9, owner, 32) != 32) KEEL_FAIL("nft: no such id");
}

static void emit_transfer(const uint8_t *from, const uint8_t *to, uint64_t id) {
    uint8_t ev[72];
    memcpy(ev, from, 32);
    memcpy(ev + 32, to, 32);
    keel_store_u64_le(ev + 64, id);
    keel_emit_event("Transfer", 8, ev, 72);
}

KEEL_EXPORT("mint") void mint(void) {
    uint8_t to[32];
    keel_input_exact(to, 32);
    uint64_t id = read_u64("n", 1);
    if (id == UINT64_MAX) KEEL_FAIL("nft: overflow");
    owner_key k = owner_key_of(id);
    keel_storage_write(k.b, 9, to, 32);
    add_count(to, 1);
    uint8_t next[8];
    keel_store_u64_le(next, id + 1);
    keel_storage_write("n", 1, next, 8);
    uint8_t zero[32];
    memset(zero, 0, 32);
    emit_transfer(zero, to, id);
    uint8_t out[8];
    keel_store_u64_le(out, id);
    keel_return_data(out, 8);
}

KEEL_EXPORT("transfer") void transfer(void) {
    uint8_t in[40];
    keel_input_exact(in, 40);
    uint64_t id = keel_load_u64_le(in);
    const uint8_t *to = in + 8;
    uint8_t owner[32];
    load_owner(id, owner);
    keel_address caller;
    keel_caller(&caller);
    if (memcmp(owner, caller.b, 32) != 0) KEEL_FAIL("nft: not the owner");
    if (memcmp(owner, to, 32) == 0) KEEL_FAIL("nft: transfer to self");
    owner_key k = owner_key_of(id);
    keel_storage_write(k.b, 9, to, 32);
    add_count(owner, 0);
    add_count(to, 1);
    emit_transfer(owner, to, id);
}

KEEL_EXPORT("owner_of") void owner_of(void) {
    uint8_t in[8];
    keel_input_exact(in, 8);
    uint8_t owner[32];
    load_owner(keel_load_u64_le(in), owner);
    keel_return_data(owner, 32);
}

KEEL_EXPORT("balance") void balance(void) {
    uint8_t holder[32];
    keel_input_exact(holder, 32);
    count_key k = count_key_of(holder);
    uint8_t out[8];
    keel_store_u64_le(out, read_u64(k.b, 33));
    keel_return_data(out, 8);
}

KEEL_EXPORT("supply") void supply(void) {
    uint8_t none[1];
    keel_input_exact(none, 0);
    uint8_t out[8];
    keel_store_u64_le(out, read_u64("n", 1));
    keel_return_data(out, 8);
}
