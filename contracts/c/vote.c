/* A private ballot verified with Groth16 (BN254, circom/snarkjs): voters register
 * Poseidon(secret) leaves in a Poseidon Merkle tree; a voter proves membership and publishes
 * nullifier = Poseidon(secret, election) without saying which leaf is theirs. The circuit is
 * vm/zk/vectors/gen/circuits/vote.circom; public inputs, in order: root, election, vote, nullifier.
 *
 * Entry points:
 *   setup in: vk_len(u32 LE) vk(vk_len) root(32) election(32)
 *         stores the verifying key (4 public inputs), voter root and election; only once.
 *   cast  in: proof(256) vote(32) nullifier(32)
 *         verifies the proof against the stored key, root and election; refuses a used
 *         nullifier; counts the vote (0 = no, 1 = yes); emits event "vote" with the nullifier.
 *   tally out: no(u64 LE) yes(u64 LE)
 * Every refusal aborts with a message (so nothing is written). */
#include "keel_runtime.h"

KEEL_MANIFEST("\x01\x01\x02\x09"); /* own storage, events, crypto */

#define INPUTS 4
#define VK_LEN (64 + 3 * 128 + (INPUTS + 1) * 64)
#define PROOF_LEN 256

typedef struct {
    uint8_t vk_len[4];
    uint8_t vk[VK_LEN];
    uint8_t root[32];
    uint8_t election[32];
} setup_input;

KEEL_EXPORT("setup") void setup(void) {
    setup_input in;
    keel_input_exact(&in, sizeof(in));
    if (keel_load_u32_le(in.vk_len) != VK_LEN) KEEL_FAIL("vote: key is not for 4 public inputs");
    uint8_t probe[1];
    if (keel_storage_read("vk", 2, probe, 0) >= 0) KEEL_FAIL("vote: already set up");
    keel_storage_write("vk", 2, in.vk, VK_LEN);
    keel_storage_write("root", 4, in.root, 32);
    keel_storage_write("election", 8, in.election, 32);
}

typedef struct {
    uint8_t proof[PROOF_LEN];
    uint8_t vote[32];
    uint8_t nullifier[32];
} cast_input;

static uint64_t load_count(const char *key) {
    uint8_t v[8] = {0};
    keel_storage_read(key, 3, v, 8);
    return keel_load_u64_le(v);
}

static void store_count(const char *key, uint64_t n) {
    uint8_t v[8];
    keel_store_u64_le(v, n);
    keel_storage_write(key, 3, v, 8);
}

KEEL_EXPORT("cast") void cast(void) {
    cast_input in;
    keel_input_exact(&in, sizeof(in));
    static uint8_t vk[VK_LEN];
    if (keel_storage_read("vk", 2, vk, VK_LEN) != VK_LEN) KEEL_FAIL("vote: not set up");
    uint8_t inputs[INPUTS * 32];
    keel_storage_read("root", 4, inputs, 32);
    keel_storage_read("election", 8, inputs + 32, 32);
    memcpy(inputs + 64, in.vote, 32);
    memcpy(inputs + 96, in.nullifier, 32);

    uint8_t key[33];
    key[0] = 'n';
    memcpy(key + 1, in.nullifier, 32);
    uint8_t probe[1];
    if (keel_storage_read(key, 33, probe, 0) >= 0) KEEL_FAIL("vote: nullifier already used");

    int32_t ok = keel_groth16_verify(KEEL_CURVE_BN254, vk, VK_LEN, in.proof, inputs, INPUTS);
    if (ok != 1) KEEL_FAIL("vote: proof does not verify");
    /* The circuit constrains vote to 0 or 1, so its last byte says which. */
    const char *counter = in.vote[31] ? "yes" : "no_";
    store_count(counter, load_count(counter) + 1);
    keel_storage_write(key, 33, probe, 0);
    keel_emit_event("vote", 4, in.nullifier, 32);
}

KEEL_EXPORT("tally") void tally(void) {
    uint8_t out[16];
    keel_store_u64_le(out, load_count("no_"));
    keel_store_u64_le(out + 8, load_count("yes"));
    keel_return_data(out, 16);
}
