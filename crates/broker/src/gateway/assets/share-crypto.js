// The download page's cryptography (docs/sharing.md), on WebCrypto only.
//
// An ES module with no imports and no DOM use, so the page (as
// /assets/share-crypto.js) and Node's test runner (tests/browser/) load the
// same code. Every key stays in this tab: nothing here talks to the network.

const encoder = new TextEncoder();

/** Derivation labels; they must match the Rust core and SDK byte for byte. */
export const LABEL_READ_TOKEN = "shardgate/v1/share/read-token";
export const LABEL_WRAP_KEY = "shardgate/v1/share/wrap-key";
export const LABEL_SEALED_KEY = "shardgate/v1/share/key";
export const LABEL_SEALED_NAME = "shardgate/v1/share/name";
export const LABEL_E2E = "shardgate/v1/e2e";

/** Share secret: 256 bits, 43 base64url characters (no padding). */
export const SECRET_LEN = 32;
export const SECRET_TEXT_LEN = 43;
/** AES-GCM nonce and tag; a sealed box is nonce ‖ ciphertext ‖ tag. */
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
/** The blob id is a 32-byte BLAKE3 hash, 64 hex characters on the wire. */
export const BLOB_ID_LEN = 32;

/**
 * Authentication failed: wrong link, wrong blob, or altered bytes. The page
 * shows one message for all of them, since it cannot tell which.
 */
export class TamperError extends Error {
  constructor(what) {
    super(`${what} failed authentication`);
    this.name = "TamperError";
  }
}

/** A value from the link or the server that is not in the documented form. */
export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "FormatError";
  }
}

// ---- encodings -------------------------------------------------------------

/** Bytes → base64url without padding (the form of the secret and the token). */
export function base64UrlEncode(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Base64 or base64url, padded or not → bytes. Lenient about the alphabet
 * because server JSON may use either; strict about everything else.
 */
export function base64Decode(text, what = "value") {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
    throw new FormatError(`${what} is not base64`);
  }
  const bare = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (bare.length % 4 === 1) throw new FormatError(`${what} has a bad base64 length`);
  let binary;
  try {
    binary = atob(bare + "=".repeat((4 - (bare.length % 4)) % 4));
  } catch {
    throw new FormatError(`${what} is not base64`);
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function hexToBytes(hex, what = "value") {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new FormatError(`${what} is not hex`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The secret from the link's fragment: exactly 43 base64url characters. */
export function parseSecret(fragment) {
  const text = fragment.startsWith("#") ? fragment.slice(1) : fragment;
  if (text.length !== SECRET_TEXT_LEN || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new FormatError(
      `the part after # must be ${SECRET_TEXT_LEN} base64url characters, got ${text.length}`,
    );
  }
  const secret = base64Decode(text, "secret");
  if (secret.length !== SECRET_LEN) throw new FormatError("the secret is not 32 bytes");
  return secret;
}

/** A blob id in hex (64 characters) → its 32 bytes. */
export function parseBlobId(hex) {
  const bytes = hexToBytes(hex, "blob id");
  if (bytes.length !== BLOB_ID_LEN) throw new FormatError("a blob id is 64 hex characters");
  return bytes;
}

// ---- key derivation ----------------------------------------------------------

/**
 * HKDF-SHA256 with no salt (WebCrypto's empty salt is RFC 5869's default of
 * 32 zero bytes: HMAC pads a short key with zeros).
 */
export async function hkdf(ikm, info, length) {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/**
 * The two values a share secret yields: the read token (shown to the
 * gateway) and the wrapping key (never leaves this tab).
 */
export async function deriveShareKeys(secret) {
  const [readToken, wrappingKey] = await Promise.all([
    hkdf(secret, encoder.encode(LABEL_READ_TOKEN), 32),
    hkdf(secret, encoder.encode(LABEL_WRAP_KEY), 32),
  ]);
  return { readToken, wrappingKey };
}

// ---- sealed boxes (wrapped key, sealed name) -------------------------------

async function aesGcmOpen(rawKey, nonce, sealed, aad, what) {
  const key = await crypto.subtle.importKey("raw", rawKey, "AES-GCM", false, ["decrypt"]);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: TAG_LEN * 8 },
      key,
      sealed,
    );
    return new Uint8Array(plain);
  } catch {
    throw new TamperError(what);
  }
}

/** nonce (12) ‖ AES-256-GCM(wrapping key, nonce, plaintext, label ‖ blob id) ‖ tag (16). */
async function openBox(wrappingKey, box, label, blobId, what) {
  if (box.length < NONCE_LEN + TAG_LEN) throw new TamperError(what);
  const aad = concat(encoder.encode(label), blobId);
  return aesGcmOpen(wrappingKey, box.subarray(0, NONCE_LEN), box.subarray(NONCE_LEN), aad, what);
}

/** The 32-byte file key from `wrapped_key` (60 bytes). */
export async function unwrapFileKey(wrappingKey, wrappedKey, blobId) {
  const fileKey = await openBox(wrappingKey, wrappedKey, LABEL_SEALED_KEY, blobId, "wrapped key");
  if (fileKey.length !== 32) throw new TamperError("wrapped key");
  return fileKey;
}

/** The UTF-8 file name from `sealed_name`. */
export async function openSealedName(wrappingKey, sealedName, blobId) {
  const bytes = await openBox(wrappingKey, sealedName, LABEL_SEALED_NAME, blobId, "sealed name");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError("the sealed name is not UTF-8");
  }
}

// ---- end-to-end chunks -------------------------------------------------------

/** "shardgate/v1/e2e" ‖ index u64 big-endian ‖ last (0 or 1): 25 bytes. */
export function e2eLabel(index, last) {
  const out = new Uint8Array(25);
  out.set(encoder.encode(LABEL_E2E));
  new DataView(out.buffer).setBigUint64(16, BigInt(index), false);
  out[24] = last ? 1 : 0;
  return out;
}

/** Opens stored chunk `index` (ciphertext ‖ tag) of an end-to-end blob. */
export async function openE2eChunk(fileKey, index, last, sealed) {
  const label = e2eLabel(index, last);
  const keyAndNonce = await hkdf(fileKey, label, 44);
  const what = `chunk ${index}`;
  if (sealed.length < TAG_LEN) throw new TamperError(what);
  return aesGcmOpen(keyAndNonce.subarray(0, 32), keyAndNonce.subarray(32), sealed, label, what);
}

/**
 * Decrypts the stored stream of an end-to-end blob as it arrives.
 *
 * Chunks are `chunkSize + 16` bytes except the last. Rather than trusting a
 * length header to know which chunk is last, one full chunk is held back
 * until more bytes follow: whatever remains when the stream ends is the last
 * chunk. A stream cut at a chunk boundary therefore opens its new final
 * chunk as "last", which it was not sealed as, and fails: truncation is
 * caught by the tags, not by bookkeeping.
 */
export class E2eStreamDecryptor {
  constructor(fileKey, chunkSize) {
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
      throw new FormatError("chunk_size must be a positive integer");
    }
    this.fileKey = fileKey;
    this.stride = chunkSize + TAG_LEN;
    this.pending = [];
    this.pendingLen = 0;
    this.index = 0;
  }

  /** Feeds received bytes; resolves to the plaintext chunks now complete. */
  async push(bytes) {
    this.pending.push(bytes);
    this.pendingLen += bytes.length;
    const out = [];
    // Strictly more than one stride: the chunk is known not to be the last.
    while (this.pendingLen > this.stride) {
      out.push(await openE2eChunk(this.fileKey, this.index, false, this.take(this.stride)));
      this.index += 1;
    }
    return out;
  }

  /** The stream ended: opens what is left as the last chunk (none for an empty blob). */
  async finish() {
    if (this.pendingLen === 0) {
      if (this.index === 0) return [];
      throw new TamperError("end of stream");
    }
    const last = await openE2eChunk(this.fileKey, this.index, true, this.take(this.pendingLen));
    this.index += 1;
    return [last];
  }

  take(n) {
    // One part (the common case after a take) is sliced without a copy.
    const all = this.pending.length === 1 ? this.pending[0] : concat(...this.pending);
    this.pending = n < all.length ? [all.subarray(n)] : [];
    this.pendingLen = all.length - n;
    return all.subarray(0, n);
  }
}
