// What the page says when something fails: one place for every message, so
// the words a buyer reads (and `data-error`, which the tests read) are
// decided here and pinned by tests/browser/crypto.test.mjs.

import { FormatError, TamperError } from "./share-crypto.js";
import { GatewayError } from "./share-gateway.js";

export const TAMPERED = "This file was tampered with or the link is wrong; nothing was saved.";
export const INCOMPLETE_MISSING = "The link is incomplete: the part after # is missing";
export const INCOMPLETE_DAMAGED = "The link is incomplete: the part after # is damaged";
export const NO_SUCH_LINK = "No such link (or the link is incomplete)";
export const NO_SUCH_PUBLIC_FILE = "No such public file";

/** `410 Gone` kinds of docs/sharing.md. */
const GONE_TEXT = {
  expired: "This link has expired",
  revoked: "This link was revoked by its owner",
  used_up: "This link has been used up",
};

/**
 * `[kind, message, detail]` for a failure: `kind` goes to `data-error`,
 * `detail` is the server's own message (or ours) in smaller print.
 */
export function describeFailure(err, isShare) {
  if (err instanceof TamperError) return ["tampered", TAMPERED, ""];
  if (err instanceof FormatError) return ["bad_link", "The link or the gateway's answer is malformed", err.message];
  if (!(err instanceof GatewayError)) return ["internal", "Something went wrong in this page", String(err)];
  const { status, kind, detail } = err;
  if (status === 410 && GONE_TEXT[kind]) return [kind, GONE_TEXT[kind], detail];
  if (status === 404) return ["not_found", isShare ? NO_SUCH_LINK : NO_SUCH_PUBLIC_FILE, detail];
  if (kind === "short") return [kind, "The download was cut short; nothing was saved", detail];
  if (kind === "network") return [kind, "Could not reach the gateway; check your connection", detail];
  if (status === 429) return [kind, "Too many requests; try again in a moment", detail];
  if (status === 503) return [kind, "The storage is unavailable right now; try again later", detail];
  return [kind, `The gateway refused (${status || "no answer"})`, detail];
}
