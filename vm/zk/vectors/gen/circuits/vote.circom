pragma circom 2.1.0;
// A private ballot: the voter proves that Poseidon(secret) is a leaf of the registered voters'
// depth-2 Poseidon Merkle tree, without saying which, and publishes a nullifier
// Poseidon(secret, election) so the same secret cannot vote twice in one election.
// Public: root, election, vote (0 or 1), nullifier. Private: secret, the path.
include "poseidon.circom";

template Vote(depth) {
    signal input root;
    signal input election;
    signal input vote;
    signal input nullifier;
    signal input secret;
    signal input siblings[depth];
    signal input is_right[depth];

    vote * (vote - 1) === 0;

    component leaf = Poseidon(1);
    leaf.inputs[0] <== secret;

    component h[depth];
    signal cur[depth + 1];
    signal l[depth];
    signal r[depth];
    cur[0] <== leaf.out;
    for (var i = 0; i < depth; i++) {
        is_right[i] * (is_right[i] - 1) === 0;
        // left = is_right ? sibling : cur ; right = is_right ? cur : sibling
        l[i] <== cur[i] + is_right[i] * (siblings[i] - cur[i]);
        r[i] <== siblings[i] + is_right[i] * (cur[i] - siblings[i]);
        h[i] = Poseidon(2);
        h[i].inputs[0] <== l[i];
        h[i].inputs[1] <== r[i];
        cur[i + 1] <== h[i].out;
    }
    root === cur[depth];

    component n = Poseidon(2);
    n.inputs[0] <== secret;
    n.inputs[1] <== election;
    nullifier === n.out;
}

component main {public [root, election, vote, nullifier]} = Vote(2);
