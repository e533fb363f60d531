// The page's side of the gateway's HTTP contract (docs/sharing.md, "HTTP
// gateway"): which URL, which header, which JSON fields. The secret is not
// in scope here: only the read token (derived from it) is ever sent.

/** Header carrying the base64url read token on every share request. */
export const TOKEN_HEADER = "x-shardgate-share-token";

/**
 * A refusal from the gateway (or no answer at all). `kind` is the JSON
 * `error` field (`expired`, `revoked`, `used_up`, …), or `not_found` for a
 * 404 and `http_<status>` when the body is not the documented JSON.
 */
export class GatewayError extends Error {
  constructor(status, kind, detail) {
    super(`${status} ${kind}: ${detail}`);
    this.name = "GatewayError";
    this.status = status;
    this.kind = kind;
    this.detail = detail;
  }
}

/** The page's address: `/s/{share id}` or `/b/{blob id}`. */
export function parsePagePath(pathname) {
  const match = /^\/(s|b)\/([A-Za-z0-9_-]+)\/?$/.exec(pathname);
  if (!match) return null;
  const [, prefix, id] = match;
  return { isShare: prefix === "s", id, base: `/${prefix}/${id}` };
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): the status alone must do.
  }
  let kind = body && typeof body.error === "string" ? body.error : `http_${response.status}`;
  // An unknown id and a wrong token are one 404 by design: one kind here too.
  if (response.status === 404) kind = "not_found";
  const detail = body && typeof body.message === "string" ? body.message : response.statusText;
  return new GatewayError(response.status, kind, detail);
}

/** Talks to one share (`/s/{id}`, with its token) or one public blob (`/b/{id}`). */
export class GatewayClient {
  constructor(base, readTokenText) {
    this.base = base;
    this.headers = readTokenText ? { [TOKEN_HEADER]: readTokenText } : {};
  }

  async request(method, path, extraHeaders = {}) {
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        headers: { ...this.headers, ...extraHeaders },
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (err) {
      throw new GatewayError(0, "network", `could not reach the gateway (${err.message})`);
    }
  }

  async json(method, path) {
    const response = await this.request(method, path);
    if (!response.ok) throw await errorFrom(response);
    try {
      return await response.json();
    } catch {
      throw new GatewayError(response.status, "bad_response", `${path} did not return JSON`);
    }
  }

  /** `GET …/info`: name or sealed name, wrapped key, size, price, expiry, downloads left. */
  info() {
    return this.json("GET", "/info");
  }

  /** `GET …/payment/{hash}`: `{"state": "open"|"paid"|"canceled"|"unknown", "preimage"?}`. */
  paymentStatus(paymentHash) {
    return this.json("GET", `/payment/${encodeURIComponent(paymentHash)}`);
  }

  /**
   * `POST …/content` without a credential: the L402 challenge (`402`), or
   * the bytes straight away if the gateway asks for no payment (`200`).
   */
  async challenge() {
    const response = await this.request("POST", "/content");
    if (response.ok) return { response };
    if (response.status !== 402) throw await errorFrom(response);
    let body;
    try {
      body = await response.json();
    } catch {
      throw new GatewayError(402, "bad_response", "the payment challenge is not JSON");
    }
    for (const field of ["invoice", "macaroon", "payment_hash"]) {
      if (typeof body[field] !== "string" || body[field] === "") {
        throw new GatewayError(402, "bad_response", `the payment challenge has no ${field}`);
      }
    }
    return { challenge: body };
  }

  /** `POST …/content` with `Authorization: L402 <macaroon>:<preimage hex>`: the bytes. */
  async content(macaroon, preimageHex) {
    const response = await this.request("POST", "/content", {
      authorization: `L402 ${macaroon}:${preimageHex}`,
    });
    if (!response.ok) throw await errorFrom(response);
    if (!response.body) throw new GatewayError(response.status, "bad_response", "no body");
    return response;
  }
}
