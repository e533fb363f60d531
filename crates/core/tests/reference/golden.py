#!/usr/bin/env python3
"""Independent reference for the golden vectors in tests/it/golden.rs.

Recomputes key schedule, AES-256-GCM ciphertexts, wrapped keys, shard data
and manifests with Python's `cryptography` and `blake3` packages, so the Rust
goldens are checked against a second implementation of the spec, not just
against themselves. Run: python3 golden.py (needs `blake3`, `cryptography`).
Reed-Solomon parity is recomputed from the code's definition: GF(2^8) with
polynomial 0x11d, a (k+m) x k Vandermonde matrix V[r][c] = r^c made
systematic by multiplying with the inverse of its top k x k block (the
construction of the `reed-solomon-erasure` crate).
"""
import struct
from blake3 import blake3
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes


def hkdf(ikm, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(ikm)


def b3(x):
    return blake3(x).digest()


master = bytes([0x42] * 32)
conv_a = hkdf(master, b"shardgate/v1/convergence" + b"tenant-a", 32)
conv_global = hkdf(master, b"shardgate/v1/convergence", 32)
kek = hkdf(master, b"shardgate/v1/kek", 32)
pt = b"hello shardgate"
ck = hkdf(conv_a, b"shardgate/v1/chunk" + b3(pt), 44)
sealed = AESGCM(ck[:32]).encrypt(ck[32:], pt, b"shardgate/v1/managed")
chunk_id = b3(sealed)

wrap_key = hkdf(kek, b"shardgate/v1/wrap" + chunk_id, 32)
wrap_nonce = hkdf(kek, b"shardgate/v1/wrap-nonce" + chunk_id + ck, 12)
wrapped = b"\x01" + wrap_nonce + AESGCM(wrap_key).encrypt(
    wrap_nonce, ck, b"shardgate/v1/wrap" + chunk_id)

file_key = bytes(range(32))
e2e_info = b"shardgate/v1/e2e" + struct.pack(">Q", 0) + b"\x01"
ek = hkdf(file_key, e2e_info, 44)
sealed_e2e = AESGCM(ek[:32]).encrypt(ek[32:], pt, e2e_info)

shard_len = (len(sealed) + 1) // 2
shard_len += shard_len & 1
data0 = sealed[:shard_len]
data1 = sealed[shard_len:].ljust(shard_len, b"\0")


def gf_mul(a, b):
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return out


def gf_pow(a, n):
    out = 1
    for _ in range(n):
        out = gf_mul(out, a)
    return out


def gf_inv(a):
    return next(x for x in range(1, 256) if gf_mul(a, x) == 1)


def mat_inv(mat):
    n = len(mat)
    aug = [row[:] + [int(i == j) for j in range(n)] for i, row in enumerate(mat)]
    for col in range(n):
        piv = next(r for r in range(col, n) if aug[r][col])
        aug[col], aug[piv] = aug[piv], aug[col]
        inv = gf_inv(aug[col][col])
        aug[col] = [gf_mul(x, inv) for x in aug[col]]
        for r in range(n):
            if r != col and aug[r][col]:
                f = aug[r][col]
                aug[r] = [x ^ gf_mul(f, y) for x, y in zip(aug[r], aug[col])]
    return [row[n:] for row in aug]


def parity_shards(data, m):
    k = len(data)
    vand = [[gf_pow(r, c) for c in range(k)] for r in range(k + m)]
    top_inv = mat_inv(vand[:k])
    rows = [[0] * k for _ in range(m)]
    for i in range(m):
        for j in range(k):
            for t in range(k):
                rows[i][j] ^= gf_mul(vand[k + i][t], top_inv[t][j])
    out = []
    for row in rows:
        shard = bytearray(len(data[0]))
        for coef, d in zip(row, data):
            for n, byte in enumerate(d):
                shard[n] ^= gf_mul(coef, byte)
        out.append(bytes(shard))
    return out


parity = parity_shards([data0, data1], 1)[0]


def manifest(mode, chunk_size, total, k, m, chunks):
    out = b"SGMF" + bytes([1, mode, k, m]) + struct.pack(">IQI", chunk_size, total, len(chunks))
    for cid, n in chunks:
        out += cid + struct.pack(">I", n)
    return out


man = manifest(0, 256 * 1024, len(pt), 2, 1, [(chunk_id, len(pt))])
empty = manifest(0, 4 * 1024 * 1024, 0, 2, 1, [])

for name, value in [
    ("convergence(tenant-a)", conv_a), ("convergence(global)", conv_global), ("kek", kek),
    ("blake3(pt)", b3(pt)), ("chunk key", ck[:32]), ("chunk nonce", ck[32:]),
    ("sealed managed", sealed), ("chunk id", chunk_id), ("wrapped", wrapped),
    ("e2e key", ek[:32]), ("e2e nonce", ek[32:]), ("sealed e2e", sealed_e2e),
    ("data shard 0", data0), ("data shard 1", data1),
    ("blake3(data0)", b3(data0)), ("blake3(data1)", b3(data1)),
    ("parity shard 2", parity), ("blake3(parity)", b3(parity)),
    ("manifest", man), ("blob id", b3(man)), ("empty manifest", empty),
    ("empty blob id", b3(empty)),
]:
    print(f"{name:22} {value.hex()}")
