// The download page's crypto and wording, run in Node (no browser) against
// vectors.json, which make_vectors.py computed independently of this code.
//
//   node --test tests/browser/

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  E2eStreamDecryptor,
  FormatError,
  TamperError,
  base64Decode,
  base64UrlEncode,
  bytesToHex,
  deriveShareKeys,
  e2eLabel,
  hexToBytes,
  hkdf,
  openE2eChunk,
  openSealedName,
  parseBlobId,
  parseSecret,
  unwrapFileKey,
} from "../../crates/broker/src/gateway/assets/share-crypto.js";
import {
  formatDownloadsLeft,
  formatExpiry,
  formatSats,
  humanSize,
} from "../../crates/broker/src/gateway/assets/share-format.js";
import { GatewayError, parsePagePath } from "../../crates/broker/src/gateway/assets/share-gateway.js";
import { TAMPERED, describeFailure } from "../../crates/broker/src/gateway/assets/share-messages.js";
import { safeFileName } from "../../crates/broker/src/gateway/assets/share-save.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8"));
const share = vectors.share;
const e2e = vectors.e2e;
const hex = (h) => hexToBytes(h);
const blobId = hex(share.blob_id_hex);
const fileKey = hex(e2e.file_key_hex);

function flipped(bytes, at) {
  const copy = Uint8Array.from(bytes);
  copy[at] ^= 0x01;
  return copy;
}

test("the secret in the fragment is 43 base64url characters, and nothing else", () => {
  assert.equal(bytesToHex(parseSecret(`#${share.secret_b64url}`)), share.secret_hex);
  assert.equal(bytesToHex(parseSecret(share.secret_b64url)), share.secret_hex);
  assert.throws(() => parseSecret(""), FormatError);
  assert.throws(() => parseSecret(share.secret_b64url.slice(1)), FormatError);
  assert.throws(() => parseSecret(`${share.secret_b64url}A`), FormatError);
  assert.throws(() => parseSecret(`${share.secret_b64url.slice(1)}=`), FormatError);
  assert.throws(() => parseSecret(`${share.secret_b64url.slice(1)}+`), FormatError);
});

test("read token and wrapping key match the vectors (HKDF-SHA256, no salt)", async () => {
  const { readToken, wrappingKey } = await deriveShareKeys(hex(share.secret_hex));
  assert.equal(bytesToHex(readToken), share.read_token_hex);
  assert.equal(base64UrlEncode(readToken), share.read_token_b64url);
  assert.equal(bytesToHex(wrappingKey), share.wrapping_key_hex);
  assert.notEqual(share.read_token_hex, share.wrapping_key_hex);
});

test("read token and wrapping key match the Rust core's share vector", async () => {
  const golden = vectors.rust_share_golden;
  const { readToken, wrappingKey } = await deriveShareKeys(hex(golden.secret_hex));
  assert.equal(bytesToHex(readToken), golden.read_token_hex);
  assert.equal(bytesToHex(wrappingKey), golden.wrapping_key_hex);
});

test("base64 decoding takes both alphabets, with or without padding, and rejects junk", () => {
  const wrapped = hex(share.wrapped_key_hex);
  const standard = Buffer.from(wrapped).toString("base64");
  assert.deepEqual(base64Decode(share.wrapped_key_b64url), wrapped);
  assert.deepEqual(base64Decode(standard), wrapped);
  assert.equal(base64UrlEncode(wrapped), share.wrapped_key_b64url);
  assert.throws(() => base64Decode("ab$d"), FormatError);
  assert.throws(() => base64Decode("abcde"), FormatError);
  assert.throws(() => base64Decode(null), FormatError);
});

test("the wrapped key opens to the file key, only for its blob", async () => {
  const wrappingKey = hex(share.wrapping_key_hex);
  const wrapped = base64Decode(share.wrapped_key_b64url);
  assert.equal(wrapped.length, 60);
  assert.equal(bytesToHex(await unwrapFileKey(wrappingKey, wrapped, blobId)), share.file_key_hex);
  await assert.rejects(unwrapFileKey(wrappingKey, wrapped, flipped(blobId, 31)), TamperError);
  await assert.rejects(unwrapFileKey(wrappingKey, flipped(wrapped, 20), blobId), TamperError);
  await assert.rejects(unwrapFileKey(wrappingKey, flipped(wrapped, 0), blobId), TamperError);
  await assert.rejects(unwrapFileKey(flipped(wrappingKey, 0), wrapped, blobId), TamperError);
  await assert.rejects(unwrapFileKey(wrappingKey, wrapped.subarray(0, 27), blobId), TamperError);
});

test("the sealed name opens to the UTF-8 name; key and name boxes are not interchangeable", async () => {
  const wrappingKey = hex(share.wrapping_key_hex);
  const sealedName = base64Decode(share.sealed_name_b64url);
  const wrapped = base64Decode(share.wrapped_key_b64url);
  assert.equal(await openSealedName(wrappingKey, sealedName, blobId), share.name);
  await assert.rejects(openSealedName(wrappingKey, sealedName, flipped(blobId, 0)), TamperError);
  await assert.rejects(openSealedName(wrappingKey, wrapped, blobId), TamperError);
  await assert.rejects(unwrapFileKey(wrappingKey, sealedName, blobId), TamperError);
});

test("blob ids are 64 hex characters", () => {
  assert.deepEqual(parseBlobId(share.blob_id_hex), blobId);
  assert.throws(() => parseBlobId(share.blob_id_hex.slice(2)), FormatError);
  assert.throws(() => parseBlobId(`${share.blob_id_hex.slice(1)}g`), FormatError);
  assert.throws(() => parseBlobId(undefined), FormatError);
});

test("end-to-end chunk keys and chunks match the vectors and the Rust golden", async () => {
  for (const chunk of e2e.chunks) {
    const keyNonce = await hkdf(fileKey, e2eLabel(chunk.index, chunk.last), 44);
    assert.equal(bytesToHex(keyNonce), chunk.chunk_key_and_nonce_hex);
    const plain = await openE2eChunk(fileKey, chunk.index, chunk.last, hex(chunk.sealed_hex));
    assert.equal(bytesToHex(plain), chunk.plaintext_hex);
  }
  const golden = vectors.rust_golden;
  const keyNonce = await hkdf(hex(golden.file_key_hex), e2eLabel(golden.index, golden.last), 44);
  assert.equal(bytesToHex(keyNonce), golden.chunk_key_and_nonce_hex);
  const plain = await openE2eChunk(hex(golden.file_key_hex), golden.index, golden.last, hex(golden.sealed_hex));
  assert.equal(bytesToHex(plain), golden.plaintext_hex);
});

test("a chunk opened at another index or with the wrong last flag fails", async () => {
  const [first, second] = e2e.chunks;
  await assert.rejects(openE2eChunk(fileKey, 1, false, hex(first.sealed_hex)), TamperError);
  await assert.rejects(openE2eChunk(fileKey, 0, true, hex(first.sealed_hex)), TamperError);
  await assert.rejects(openE2eChunk(fileKey, 1, false, hex(second.sealed_hex)), TamperError);
  await assert.rejects(openE2eChunk(fileKey, 0, false, hex(first.sealed_hex).subarray(0, 15)), TamperError);
});

/** Feeds `stream` to a decryptor in pieces of `piece` bytes; resolves to the plaintext. */
async function decryptStream(stream, piece) {
  const decryptor = new E2eStreamDecryptor(fileKey, e2e.chunk_size);
  const out = [];
  for (let at = 0; at < stream.length; at += piece) {
    out.push(...(await decryptor.push(stream.subarray(at, at + piece))));
  }
  out.push(...(await decryptor.finish()));
  return bytesToHex(Uint8Array.from(out.flatMap((c) => [...c])));
}

test("the stream decryptor opens the stored stream however it is split", async () => {
  const stream = hex(e2e.stream_hex);
  for (const piece of [1, 5, 16, 32, 33, stream.length]) {
    assert.equal(await decryptStream(stream, piece), e2e.plaintext_hex, `pieces of ${piece}`);
  }
  assert.equal(await decryptStream(new Uint8Array(0), 1), "");
});

test("the stream decryptor catches truncated, reordered and altered streams", async () => {
  const stream = hex(e2e.stream_hex);
  const stride = e2e.chunk_size + 16;
  const [first, second] = e2e.chunks.map((c) => hex(c.sealed_hex));
  // Cut at the chunk boundary: chunk 0 was not sealed as last.
  await assert.rejects(decryptStream(stream.subarray(0, stride), 7), TamperError);
  await assert.rejects(decryptStream(stream.subarray(0, stream.length - 1), 7), TamperError);
  await assert.rejects(decryptStream(Uint8Array.from([...second, ...first]), 7), TamperError);
  await assert.rejects(decryptStream(Uint8Array.from([...first, ...first, ...second]), 7), TamperError);
  await assert.rejects(decryptStream(flipped(stream, stride + 3), 7), TamperError);
  await assert.rejects(decryptStream(stream.subarray(stride), 7), TamperError);
  assert.throws(() => new E2eStreamDecryptor(fileKey, 0), FormatError);
});

test("sizes, prices, expiry and downloads read as the page shows them", () => {
  assert.equal(humanSize(0), "0 bytes");
  assert.equal(humanSize(1), "1 byte");
  assert.equal(humanSize(1023), "1023 bytes");
  assert.equal(humanSize(1536), "1.5 KiB");
  assert.equal(humanSize(5 * 1024 * 1024), "5.0 MiB");
  assert.equal(humanSize(300 * 1024 ** 3), "300 GiB");
  assert.equal(formatSats(21_000), "21 sat");
  assert.equal(formatSats(1_500), "1.5 sat");
  assert.equal(formatSats(1), "0.001 sat");
  assert.equal(formatSats(0), "0 sat");
  assert.equal(formatSats(123_456_789_010), "123,456,789.01 sat");
  const now = Date.UTC(2026, 11, 5, 6, 0);
  assert.equal(formatExpiry(null, now), "Never expires");
  assert.equal(formatExpiry(now + 3 * 86_400_000, now), "Expires 2026-12-08 06:00 UTC (in 3 days)");
  assert.equal(formatExpiry(now + 90 * 60_000, now), "Expires 2026-12-05 07:30 UTC (in 90 minutes)");
  assert.equal(formatExpiry(now + 5 * 3_600_000, now), "Expires 2026-12-05 11:00 UTC (in 5 hours)");
  assert.equal(formatExpiry(now - 1, now), "Expired 2026-12-05 05:59 UTC");
  assert.equal(formatDownloadsLeft(null), "Unlimited downloads");
  assert.equal(formatDownloadsLeft(1), "1 download left");
  assert.equal(formatDownloadsLeft(3), "3 downloads left");
});

test("the page knows its routes and never suggests a path as a file name", () => {
  assert.deepEqual(parsePagePath(`/s/${share.share_id_b64url}`), {
    isShare: true,
    id: share.share_id_b64url,
    base: `/s/${share.share_id_b64url}`,
  });
  assert.equal(parsePagePath(`/b/${share.blob_id_hex}/`).base, `/b/${share.blob_id_hex}`);
  assert.equal(parsePagePath("/s/"), null);
  assert.equal(parsePagePath("/s/a/b"), null);
  assert.equal(parsePagePath("/x/abc"), null);
  assert.equal(safeFileName("../../etc/passwd", "f"), ".._.._etc_passwd");
  assert.equal(safeFileName("a\nb", "f"), "a_b");
  assert.equal(safeFileName("..", "fallback"), "fallback");
  assert.equal(safeFileName("", "fallback"), "fallback");
  assert.equal(safeFileName(share.name, "f"), share.name);
});

test("failures read as the design says, with the server's message as detail", () => {
  const gone = (kind) => describeFailure(new GatewayError(410, kind, `server says ${kind}`), true);
  assert.deepEqual(gone("expired"), ["expired", "This link has expired", "server says expired"]);
  assert.deepEqual(gone("revoked"), ["revoked", "This link was revoked by its owner", "server says revoked"]);
  assert.deepEqual(gone("used_up"), ["used_up", "This link has been used up", "server says used_up"]);
  assert.deepEqual(describeFailure(new GatewayError(404, "not_found", "no share"), true), [
    "not_found",
    "No such link (or the link is incomplete)",
    "no share",
  ]);
  assert.equal(describeFailure(new GatewayError(404, "not_found", ""), false)[1], "No such public file");
  assert.deepEqual(describeFailure(new TamperError("chunk 3"), true), ["tampered", TAMPERED, ""]);
  assert.equal(TAMPERED, "This file was tampered with or the link is wrong; nothing was saved.");
  assert.equal(describeFailure(new FormatError("bad"), true)[0], "bad_link");
  assert.deepEqual(describeFailure(new GatewayError(500, "internal", "boom"), true), [
    "internal",
    "The gateway refused (500)",
    "boom",
  ]);
});
