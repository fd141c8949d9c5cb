#!/usr/bin/env python3
"""Generates hwtest/vectors/bls_py_ecc.json: BLS12-381 (pk, msg, sig, valid) vectors whose
verdicts come from py_ecc, the Ethereum Foundation's reference implementation, independent of
blst. Ciphersuite: BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ (Keel's SIGNATURE_DST).

    pip install py_ecc==8.0.0 && python3 hwtest/vectors/gen_bls_vectors.py > hwtest/vectors/bls_py_ecc.json

Deterministic: keys come from fixed seeds, so a re-run reproduces the file byte for byte.
"""
import hashlib
import json

from py_ecc.bls import G2ProofOfPossession as bls
from py_ecc.bls.hash_to_curve import map_to_curve_G2, hash_to_field_FQ2
from py_ecc.bls.point_compression import compress_G2
from py_ecc.optimized_bls12_381 import add, is_inf, multiply, curve_order
from py_ecc.bls.g2_primitives import G2_to_signature

DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"


def key(i):
    return bls.KeyGen(hashlib.sha256(b"keel-hwtest-vector-key-%d" % i).digest())


def off_subgroup_point(msg):
    """A point on the G2 curve without cofactor clearing: outside the prime-order subgroup."""
    u0, u1 = hash_to_field_FQ2(msg, 2, DST, hashlib.sha256)
    p = add(map_to_curve_G2(u0), map_to_curve_G2(u1))  # map_to_curve_G2 applies the isogeny
    assert not is_inf(multiply(p, curve_order)), "point happens to be in the subgroup"
    return G2_to_signature(p)


def case(name, pk, msg, sig):
    return {
        "name": name,
        "pk": pk.hex(),
        "msg": msg.hex(),
        "sig": sig.hex(),
        "valid": bool(bls.Verify(pk, msg, sig)),
    }


def main():
    cases = []
    msgs = [b"", b"\x00", b"keel", bytes(range(32)), b"\xab" * 200]
    for i, msg in enumerate(msgs):
        sk = key(i)
        pk, sig = bls.SkToPk(sk), bls.Sign(sk, msg)
        other_sk = key(100 + i)
        cases.append(case(f"valid_{i}", pk, msg, sig))
        cases.append(case(f"wrong_message_{i}", pk, msg + b"!", sig))
        cases.append(case(f"wrong_key_{i}", bls.SkToPk(other_sk), msg, sig))
        cases.append(case(f"other_signer_{i}", pk, msg, bls.Sign(other_sk, msg)))
    # Forged pair: two signatures swapped between two messages (each alone is invalid, and
    # the pair sums to the sum of the valid ones: a naive unweighted batch would accept it).
    sk = key(7)
    pk = bls.SkToPk(sk)
    m1, m2 = b"forged-pair-1", b"forged-pair-2"
    cases.append(case("forged_pair_a", pk, m1, bls.Sign(sk, m2)))
    cases.append(case("forged_pair_b", pk, m2, bls.Sign(sk, m1)))
    for i in range(3):
        msg = b"off-subgroup-%d" % i
        cases.append(case(f"sig_outside_subgroup_{i}", bls.SkToPk(key(20 + i)), msg,
                          off_subgroup_point(msg)))
    inf_sig = bytes([0xC0]) + bytes(95)
    cases.append(case("sig_infinity", bls.SkToPk(key(30)), b"x", inf_sig))
    inf_pk = bytes([0xC0]) + bytes(47)
    cases.append(case("pk_infinity", inf_pk, b"x", inf_sig))
    bad = bytearray(bls.Sign(key(31), b"y"))
    bad[0] &= 0x7F  # clear the compression flag: not a valid encoding
    cases.append(case("sig_bad_encoding", bls.SkToPk(key(31)), b"y", bytes(bad)))
    json.dump({"source": "py_ecc 8.0.0 G2ProofOfPossession", "dst": DST.decode(),
               "cases": cases}, __import__("sys").stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
