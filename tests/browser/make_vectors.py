#!/usr/bin/env python3
"""Writes tests/browser/vectors.json: share-link and end-to-end vectors.

Independent of both implementations under test (the page's WebCrypto code and
the Rust core/SDK): HKDF-SHA256 is written out here from RFC 5869 with
hashlib/hmac, AES-256-GCM comes from the `cryptography` package. Formats are
those of docs/sharing.md. Before writing, it recomputes the end-to-end golden
vector of crates/core/tests/it/golden.rs (ciphertext_golden) and the share
derivation vector of crates/core/src/share_tests.rs, and refuses to write if
either differs, so these vectors and the Rust core agree.
These vectors were also checked once against the Rust core's share.rs (a
throwaway program, not kept): it derived the same read token, opened
wrapped_key and sealed_name, and opened both e2e chunks; the boxes it sealed
opened in the page's share-crypto.js.

Usage: python3 tests/browser/make_vectors.py   (needs `cryptography`)
"""

import base64
import hashlib
import hmac
import json
import pathlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OUT = pathlib.Path(__file__).with_name("vectors.json")


def hkdf_sha256(ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 with no salt (= HashLen zero bytes)."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def e2e_label(index: int, last: bool) -> bytes:
    return b"shardgate/v1/e2e" + index.to_bytes(8, "big") + bytes([1 if last else 0])


def seal_e2e_chunk(file_key: bytes, index: int, last: bool, plaintext: bytes) -> bytes:
    label = e2e_label(index, last)
    key_nonce = hkdf_sha256(file_key, label, 44)
    return AESGCM(key_nonce[:32]).encrypt(key_nonce[32:], plaintext, label)


def seal_box(wrapping_key: bytes, nonce: bytes, plaintext: bytes, label: bytes, blob_id: bytes) -> bytes:
    return nonce + AESGCM(wrapping_key).encrypt(nonce, plaintext, label + blob_id)


def check_against_rust_golden() -> dict:
    """crates/core/tests/it/golden.rs: file key 0..31, chunk 0 of 1, b"hello shardgate"."""
    file_key = bytes(range(32))
    key_nonce = hkdf_sha256(file_key, e2e_label(0, True), 44)
    assert key_nonce.hex() == (
        "7f94759286187369041189a15b0bdca887df4c6b170b0bfffcbaa5ec18c12051" "9780397734eea3de114f2911"
    ), "HKDF disagrees with the Rust core's key_schedule_golden"
    sealed = seal_e2e_chunk(file_key, 0, True, b"hello shardgate")
    assert sealed.hex() == "d5674dfae84e1ebebceb4330395fa6" "2231cb746e2d61aa7a64defd523932c5", (
        "AES-GCM chunk disagrees with the Rust core's ciphertext_golden"
    )
    return {
        "comment": "copied from crates/core/tests/it/golden.rs (ciphertext_golden), recomputed here",
        "file_key_hex": file_key.hex(),
        "chunk_key_and_nonce_hex": key_nonce.hex(),
        "index": 0,
        "last": True,
        "plaintext_hex": b"hello shardgate".hex(),
        "sealed_hex": sealed.hex(),
    }


def check_against_rust_share_golden() -> dict:
    """crates/core/src/share_tests.rs (derivations_match_the_documented_hkdf): secret 00..1f."""
    secret = bytes(range(32))
    read_token = hkdf_sha256(secret, b"shardgate/v1/share/read-token", 32)
    wrapping_key = hkdf_sha256(secret, b"shardgate/v1/share/wrap-key", 32)
    assert read_token.hex() == "44c86a300653e8197046ca298bdc61058bf590bb4628119e1331d8fcb161b217"
    assert wrapping_key.hex() == "c3831b41773a0becd88b4b1ab0754a42827e258434735018e0334eeb23e5f021"
    return {
        "comment": "copied from crates/core/src/share_tests.rs (derivations_match_the_documented_hkdf), recomputed here",
        "secret_hex": secret.hex(),
        "read_token_hex": read_token.hex(),
        "wrapping_key_hex": wrapping_key.hex(),
    }


def main() -> None:
    rust_golden = check_against_rust_golden()
    rust_share_golden = check_against_rust_share_golden()

    # Fixed inputs (random in real use: the secret and nonces by the client,
    # the share id by the broker, the file key by the uploader).
    secret = bytes(range(0x40, 0x60))
    share_id = bytes(range(0x10, 0x20))
    blob_id = bytes(range(0x80, 0xA0))
    file_key = bytes(range(0xE0, 0x100))
    key_nonce = bytes(range(0xC0, 0xCC))
    name_nonce = bytes(range(0xD0, 0xDC))
    name = "Quarterly report – Q3 ✓.pdf"

    read_token = hkdf_sha256(secret, b"shardgate/v1/share/read-token", 32)
    wrapping_key = hkdf_sha256(secret, b"shardgate/v1/share/wrap-key", 32)
    wrapped_key = seal_box(wrapping_key, key_nonce, file_key, b"shardgate/v1/share/key", blob_id)
    sealed_name = seal_box(wrapping_key, name_nonce, name.encode(), b"shardgate/v1/share/name", blob_id)
    assert len(wrapped_key) == 60

    chunk_size = 16
    plaintext = b"0123456789abcdefend of file"  # 16 + 11 bytes: two chunks
    chunks = [plaintext[i : i + chunk_size] for i in range(0, len(plaintext), chunk_size)]
    sealed_chunks = [
        seal_e2e_chunk(file_key, i, i == len(chunks) - 1, chunk) for i, chunk in enumerate(chunks)
    ]

    vectors = {
        "comment": (
            "Made by tests/browser/make_vectors.py: HKDF-SHA256 by hand (hashlib/hmac, RFC 5869, no salt), "
            "AES-256-GCM from Python's cryptography package, formats of docs/sharing.md. The script first "
            "recomputes the e2e golden vector of crates/core/tests/it/golden.rs (rust_golden below) and the share "
            "derivations of crates/core/src/share_tests.rs (rust_share_golden) and stops if either differs; the "
            "share and e2e vectors were also opened once by the Rust core's share.rs. Hex is lowercase; "
            "*_b64url is base64url without padding, as on the wire."
        ),
        "share": {
            "secret_hex": secret.hex(),
            "secret_b64url": b64url(secret),
            "share_id_hex": share_id.hex(),
            "share_id_b64url": b64url(share_id),
            "read_token_hex": read_token.hex(),
            "read_token_b64url": b64url(read_token),
            "wrapping_key_hex": wrapping_key.hex(),
            "blob_id_hex": blob_id.hex(),
            "file_key_hex": file_key.hex(),
            "wrapped_key_nonce_hex": key_nonce.hex(),
            "wrapped_key_hex": wrapped_key.hex(),
            "wrapped_key_b64url": b64url(wrapped_key),
            "name": name,
            "sealed_name_nonce_hex": name_nonce.hex(),
            "sealed_name_hex": sealed_name.hex(),
            "sealed_name_b64url": b64url(sealed_name),
        },
        "e2e": {
            "file_key_hex": file_key.hex(),
            "chunk_size": chunk_size,
            "plaintext_hex": plaintext.hex(),
            "chunks": [
                {
                    "index": i,
                    "last": i == len(chunks) - 1,
                    "chunk_key_and_nonce_hex": hkdf_sha256(file_key, e2e_label(i, i == len(chunks) - 1), 44).hex(),
                    "plaintext_hex": chunk.hex(),
                    "sealed_hex": sealed.hex(),
                }
                for i, (chunk, sealed) in enumerate(zip(chunks, sealed_chunks))
            ],
            "stream_hex": b"".join(sealed_chunks).hex(),
        },
        "rust_golden": rust_golden,
        "rust_share_golden": rust_share_golden,
    }
    OUT.write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
