/* Poseidon Merkle membership (BN254, circom-compatible: a leaf set built with circomlibjs or
 * circomlib's Poseidon circuits checks here unchanged). Hash of a node = Poseidon(left, right).
 *
 * Entry points:
 *   set_root  in: root(32)                      stores the root (key "root"); replaces any old one
 *   is_member in: leaf(32) index(u32 LE) depth(u32 LE) siblings(depth x 32)
 *             out: 1 byte, 1 if the path from `leaf` at position `index` reaches the stored root,
 *             else 0. Bit i of index set means the node at level i is a right child.
 * Field elements are 32-byte big-endian below the BN254 scalar modulus; a non-canonical leaf or
 * sibling, a depth above 32 or a missing root aborts with a message. */
#include "keel_runtime.h"

KEEL_MANIFEST("\x01\x01\x09"); /* own storage, crypto */

#define MAX_DEPTH 32
#define ROOT_KEY "root"

KEEL_EXPORT("set_root") void set_root(void) {
    uint8_t root[32];
    keel_input_exact(root, 32);
    keel_storage_write(ROOT_KEY, 4, root, 32);
}

typedef struct {
    uint8_t leaf[32];
    uint8_t index[4];
    uint8_t depth[4];
    uint8_t siblings[MAX_DEPTH][32];
} membership_input;

KEEL_EXPORT("is_member") void is_member(void) {
    membership_input in;
    int32_t size = keel_input_size();
    if (size < 40) KEEL_FAIL("merkle: input shorter than leaf, index and depth");
    if (size > (int32_t)sizeof(in)) KEEL_FAIL("merkle: depth above 32");
    keel_input_copy(&in, 0, size);
    uint32_t index = keel_load_u32_le(in.index);
    uint32_t depth = keel_load_u32_le(in.depth);
    if (depth > MAX_DEPTH || (int32_t)(40 + depth * 32) != size)
        KEEL_FAIL("merkle: input length does not match depth");
    uint8_t root[32];
    if (keel_storage_read(ROOT_KEY, 4, root, 32) != 32) KEEL_FAIL("merkle: no root set");

    uint8_t pair[64];
    uint8_t cur[32];
    memcpy(cur, in.leaf, 32);
    for (uint32_t i = 0; i < depth; i++) {
        int right = (index >> i) & 1;
        memcpy(pair + (right ? 32 : 0), cur, 32);
        memcpy(pair + (right ? 0 : 32), in.siblings[i], 32);
        if (keel_poseidon(KEEL_CURVE_BN254, pair, 2, cur) != 0)
            KEEL_FAIL("merkle: a node is not a canonical field element");
    }
    uint8_t member = memcmp(cur, root, 32) == 0;
    keel_return_data(&member, 1);
}
