/*
 * Routine `merkle_sha256`: checks a Merkle inclusion proof over a sha256 binary tree.
 *
 * Input (all integers little-endian):
 *   root[32] | leaf[32] | index u32 | depth u32 | siblings[depth][32]
 * so in_len == 72 + 32 * depth, depth <= 32, and index < 2^depth.
 * `leaf` is the leaf node hash itself. At level l (0 = bottom) bit l of `index` says whether the
 * running node is a right child: node = sha256(sibling || node) if set, sha256(node || sibling)
 * otherwise. Output: out[0] = 1 if the computed root equals `root`, else 0 (out_len == 1).
 * Malformed input returns KEEL_ERR_INPUT_LEN / KEEL_ERR_INPUT_VALUE.
 */
#include "sha256.h"

#define MERKLE_MAX_DEPTH 32
#define MERKLE_HEADER 72

KEEL_ROUTINE(merkle_sha256_routine)
{
    if (in_len < MERKLE_HEADER || in_len > MERKLE_HEADER + 32 * MERKLE_MAX_DEPTH)
        return KEEL_ERR_INPUT_LEN;
    if (out_len != 1)
        return KEEL_ERR_OUTPUT_LEN;
    u64 index = load_le32(in + 64);
    u64 depth = load_le32(in + 68);
    if (depth > MERKLE_MAX_DEPTH)
        return KEEL_ERR_INPUT_VALUE;
    if (in_len != MERKLE_HEADER + 32 * depth)
        return KEEL_ERR_INPUT_LEN;
    if ((index >> depth) != 0)
        return KEEL_ERR_INPUT_VALUE;
    u8 node[32] __attribute__((aligned(8)));
    u64 w[SHA256_SCHEDULE_PAIRS];
    for (int i = 0; i < 32; i++)
        node[i] = in[32 + i];
    /* One compression site per level (two copies would overflow the kernel stack and its
     * verifier budget): the child order is chosen with a branch-free byte select, then the
     * data block and the constant padding block go through the same loop. */
    for (u64 l = 0; l < MERKLE_MAX_DEPTH; l++) {
        if (l >= depth)
            break;
        const u8 *sibling = in + MERKLE_HEADER + 32 * l;
        u8 right = (u8)(0 - ((index >> l) & 1)); /* 0xff if the node is a right child */
        u8 blk[64] __attribute__((aligned(8)));
        for (int i = 0; i < 32; i++) {
            u8 n = node[i], s = sibling[i];
            blk[i] = (s & right) | (n & (u8)~right);
            blk[32 + i] = (n & right) | (s & (u8)~right);
        }
        u32 st[8];
        sha256_init(st);
        for (int k = 0; k < 2; k++) {
            if (k == 1) {
                for (int i = 0; i < 64; i++)
                    blk[i] = SHA256_PAD64[i];
            }
            sha256_compress(st, blk, w);
        }
        sha256_digest(st, node);
    }
    u64 diff = 0;
    for (int i = 0; i < 32; i++)
        diff |= (u64)(node[i] ^ in[i]);
    out[0] = diff == 0 ? 1 : 0;
    return KEEL_OK;
}

#define KEEL_BODY merkle_sha256_routine
#include "keel_entry.h"
