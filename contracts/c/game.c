/* A storage-heavy "gaming" contract: each player owns SLOTS records that every move rewrites
 * (the benchmark's many-independent-accounts workload), plus an optional shared high score.
 *
 * Entry points (every input must have exactly the listed length, else the call aborts):
 *   play   in: seed(8) shared(1)   out: score(8)   mixes seed into each of the caller's SLOTS
 *                                                   32-byte records (created on the first move)
 *                                                   and returns the new score; shared = 1 also
 *                                                   raises the global high score if beaten
 *   score  in: player(32)          out: score(8)
 *
 * Storage: "s"||player(32)||i(1) -> record(32), i < SLOTS; "hi" -> best score(8).
 * Events: topic "Move", data player(32)||score(8).
 */
#include "keel_runtime.h"

#define SLOTS 8

typedef struct { uint8_t b[1 + 32 + 1]; } slot_key;

/* A 64-bit mix (splitmix64's finalizer): cheap, integer-only, deterministic. */
static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t score_of(const uint8_t *player) {
    slot_key k;
    k.b[0] = 's';
    memcpy(&k.b[1], player, 32);
    uint64_t score = 0;
    for (int i = 0; i < SLOTS; i++) {
        uint8_t rec[32];
        k.b[33] = (uint8_t)i;
        int32_t len = keel_storage_read(k.b, 34, rec, 32);
        if (len == 32) score += keel_load_u64_le(rec) & 0xffff;
        else if (len != -1) KEEL_FAIL("game: corrupt record");
    }
    return score;
}

KEEL_EXPORT("play") void play(void) {
    uint8_t in[9];
    keel_input_exact(in, 9);
    uint64_t seed = keel_load_u64_le(in);
    slot_key k;
    k.b[0] = 's';
    keel_caller((keel_address *)&k.b[1]);
    uint64_t score = 0;
    for (int i = 0; i < SLOTS; i++) {
        uint8_t rec[32];
        k.b[33] = (uint8_t)i;
        int32_t len = keel_storage_read(k.b, 34, rec, 32);
        if (len == -1) memset(rec, 0, 32);
        else if (len != 32) KEEL_FAIL("game: corrupt record");
        for (int w = 0; w < 4; w++) {
            uint64_t v = keel_load_u64_le(rec + 8 * w);
            keel_store_u64_le(rec + 8 * w, mix(v ^ seed ^ ((uint64_t)i << 8) ^ (uint64_t)w));
        }
        keel_storage_write(k.b, 34, rec, 32);
        score += keel_load_u64_le(rec) & 0xffff;
    }
    if (in[8] == 1) {
        uint8_t best[8];
        uint64_t hi = 0;
        int32_t len = keel_storage_read("hi", 2, best, 8);
        if (len == 8) hi = keel_load_u64_le(best);
        else if (len != -1) KEEL_FAIL("game: corrupt high score");
        /* Always rewritten: a shared move conflicts with every other shared move. */
        keel_store_u64_le(best, score > hi ? score : hi);
        keel_storage_write("hi", 2, best, 8);
    }
    uint8_t ev[40];
    memcpy(ev, &k.b[1], 32);
    keel_store_u64_le(ev + 32, score);
    keel_emit_event("Move", 4, ev, 40);
    keel_return_data(ev + 32, 8);
}

KEEL_EXPORT("score") void score(void) {
    uint8_t player[32];
    keel_input_exact(player, 32);
    uint8_t out[8];
    keel_store_u64_le(out, score_of(player));
    keel_return_data(out, 8);
}
