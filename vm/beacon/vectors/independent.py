#!/usr/bin/env python3
"""Known answers for keel-beacon from independent implementations (not Keel's code).

VRF: py_ecc's BLS (pip install py_ecc==8.0.0) with Keel's VRF domain tag.
VDF: Python's integers and sympy's isprime (pip install sympy==1.14.0), following the
construction written in vm/beacon/src/{group,hash_to_prime,vdf}.rs.
Run: python3 vm/beacon/vectors/independent.py  (prints the constants the unit tests pin).
"""
import hashlib

from py_ecc.bls import G2Basic
from sympy import isprime

N = int(open(__file__.rsplit("/", 1)[0] + "/rsa2048.txt").read().strip())
LEN = 256


class Vrf(G2Basic):
    DST = b"KEEL_VRF_BLS12381G2_XMD:SHA-256_SSWU_RO_"


def vrf_output(seed_byte, chain_id, height, prev_seed):
    sk = Vrf.KeyGen(bytes([seed_byte]) * 32)
    msg = b"keel/vrf/v1" + chain_id.to_bytes(8, "little") + height.to_bytes(8, "little") + prev_seed
    sig = Vrf.Sign(sk, msg)
    return hashlib.sha256(b"keel/vrf-output/v1" + sig).hexdigest()


def canonical(v):
    v %= N
    return min(v, N - v)


def enc(v):
    return v.to_bytes(LEN, "big")


def hash_to_element(seed):
    out, c = b"", 0
    while len(out) < LEN + 16:
        out += hashlib.sha256(b"keel/vdf/hash-to-group/v1" + N.to_bytes(LEN, "big") + seed + c.to_bytes(4, "big")).digest()
        c += 1
    v = canonical(int.from_bytes(out[: LEN + 16], "big"))
    return 2 if v in (0, 1) else v


def challenge(parts):
    base = b"keel/vdf/hash-to-prime/v1" + b"".join(len(p).to_bytes(8, "big") + p for p in parts)
    for c in range(4096):
        b = bytearray(hashlib.sha256(base + c.to_bytes(4, "big")).digest())
        b[0] |= 0x80
        b[31] |= 1
        cand = int.from_bytes(b, "big")
        if isprime(cand):
            return cand
    raise ValueError("no prime")


def vdf(seed, t):
    x = hash_to_element(seed)
    y = canonical(pow(x, 2**t, N))
    l = challenge([enc(N), enc(x), enc(y), t.to_bytes(8, "big")])
    pi = canonical(pow(x, 2**t // l, N))
    return hashlib.sha256(enc(y) + enc(pi)).hexdigest()


if __name__ == "__main__":
    print("VRF seed [1;32], chain 0x6b65656c, height 1, prev [1;32]:", vrf_output(1, 0x6B65656C, 1, bytes([1]) * 32))
    print("VDF RSA-2048, delay 16, seed [0;32]:", vdf(bytes(32), 16))
    print("VDF RSA-2048, delay 1000, seed [0xab;32]:", vdf(bytes([0xAB]) * 32, 1000))
