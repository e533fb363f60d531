// The download page behind `/s/{id}#secret` and `/b/{blob id}`: show what
// the link holds, get an invoice, wait for payment, download, decrypt
// (end-to-end shares), save. See README.md beside this file.
//
// The secret is read from the fragment and used only here: the page sends
// the derived read token, never the secret, and leaves the URL as it is.

import {
  E2eStreamDecryptor,
  FormatError,
  TamperError,
  base64Decode,
  base64UrlEncode,
  bytesToHex,
  deriveShareKeys,
  hexToBytes,
  openSealedName,
  parseBlobId,
  parseSecret,
  unwrapFileKey,
} from "/assets/share-crypto.js";
import { formatDownloadsLeft, formatExpiry, formatSats, humanSize } from "/assets/share-format.js";
import { GatewayClient, GatewayError, parsePagePath } from "/assets/share-gateway.js";
import { INCOMPLETE_DAMAGED, INCOMPLETE_MISSING, NO_SUCH_LINK, describeFailure } from "/assets/share-messages.js";
import { blobSink, filePickerSink, safeFileName, wantsFilePicker } from "/assets/share-save.js";

const POLL_INTERVAL_MS = 1000;

const $ = (id) => document.getElementById(id);

/** What the page learned from the link and `info`; filled in by `open`. */
const state = {
  client: null,
  blobId: null,
  name: "",
  size: 0,
  chunkSize: 0,
  fileKey: null, // end-to-end shares only
  challenge: null,
  paid: false, // set once, so polling and WebLN never both download
};

function setStatus(text, stateName) {
  $("status").textContent = text;
  $("status").dataset.state = stateName;
}

/** Shows a failure; `kind` goes to `data-error` for the tests. */
function showError(kind, text, detail = "") {
  $("message-text").textContent = text;
  $("message-detail").textContent = detail;
  $("message").dataset.error = kind;
  $("message").hidden = false;
  if (state.name === "") $("name").textContent = "Download unavailable";
  setStatus("", "error");
  $("progress").hidden = true;
}

function fail(err) {
  const [kind, text, detail] = describeFailure(err, location.pathname.startsWith("/s/"));
  if (kind === "internal") console.error(err);
  showError(kind, text, detail);
}

// ---- 1. the link and its info ------------------------------------------------

async function open() {
  const page = parsePagePath(location.pathname);
  if (!page) {
    showError("not_found", NO_SUCH_LINK, location.pathname);
    return;
  }
  let wrappingKey = null;
  if (page.isShare) {
    if (location.hash.length <= 1) {
      showError("incomplete", INCOMPLETE_MISSING);
      return;
    }
    let secret;
    try {
      secret = parseSecret(location.hash);
    } catch (err) {
      showError("incomplete", INCOMPLETE_DAMAGED, err.message);
      return;
    }
    const keys = await deriveShareKeys(secret);
    wrappingKey = keys.wrappingKey;
    state.client = new GatewayClient(page.base, base64UrlEncode(keys.readToken));
  } else {
    state.client = new GatewayClient(page.base, null);
  }

  const info = await state.client.info();
  state.blobId = parseBlobId(page.isShare ? info.blob_id : page.id);
  if (!Number.isSafeInteger(info.size) || info.size < 0) throw new FormatError("info has no size");
  state.size = info.size;

  if (info.end_to_end === true && info.wrapped_key == null) {
    throw new FormatError("this file is end-to-end encrypted: only a share link carries its key");
  }
  if (info.wrapped_key != null) {
    if (!wrappingKey) throw new FormatError("an end-to-end blob can only be opened through its share link");
    state.chunkSize = info.chunk_size;
    state.fileKey = await unwrapFileKey(wrappingKey, base64Decode(info.wrapped_key, "wrapped_key"), state.blobId);
    state.name = info.sealed_name != null
      ? await openSealedName(wrappingKey, base64Decode(info.sealed_name, "sealed_name"), state.blobId)
      : "";
  } else {
    state.name = typeof info.name === "string" ? info.name : "";
  }
  state.name = safeFileName(state.name, `shardgate-${bytesToHex(state.blobId).slice(0, 12)}`);

  document.title = `${state.name} · Shardgate`;
  $("name").textContent = state.name;
  $("size").textContent = humanSize(state.size);
  $("size").title = `${state.size} bytes`;
  $("price").textContent = formatSats(info.price_msat ?? 0);
  $("expiry").textContent = formatExpiry(info.expires_at_unix_ms ?? null, Date.now());
  $("downloads").textContent = formatDownloadsLeft(info.downloads_left ?? null);
  $("expiry-row").hidden = !page.isShare;
  $("downloads-row").hidden = !page.isShare;
  $("facts").hidden = false;
  $("get-invoice").hidden = false;
  setStatus("", "ready");
}

// ---- 2. invoice and payment --------------------------------------------------

function showQr(svgText) {
  $("qr").replaceChildren();
  if (typeof svgText !== "string" || svgText === "") return;
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length > 0) return;
  // The CSP blocks scripts anyway; dropping them keeps the QR inert regardless.
  for (const el of [svg, ...svg.querySelectorAll("*")]) {
    if (el.localName === "script" || el.localName === "foreignObject") el.remove();
    for (const attr of [...el.attributes]) if (/^on/i.test(attr.name)) el.removeAttribute(attr.name);
  }
  $("qr").append(document.importNode(svg, true));
}

async function getInvoice() {
  $("get-invoice").disabled = true;
  $("message").hidden = true;
  setStatus("Asking for an invoice…", "invoicing");
  let challenge, response;
  try {
    ({ challenge, response } = await state.client.challenge());
  } catch (err) {
    $("get-invoice").disabled = false; // a busy gateway is worth a second click
    throw err;
  }
  if (response) {
    // A free download: the gateway sent the bytes at once.
    $("get-invoice").hidden = true;
    await save(response);
    return;
  }
  state.challenge = challenge;
  showQr(challenge.qr_svg);
  $("invoice-text").value = challenge.invoice;
  if (Number.isSafeInteger(challenge.amount_msat)) $("price").textContent = formatSats(challenge.amount_msat);
  $("webln").hidden = !weblnProvider();
  $("invoice").hidden = false;
  $("get-invoice").hidden = true;
  setStatus("Waiting for payment…", "waiting");
  pollPayment(challenge).catch(fail);
}

/** A preimage is only believed if it hashes to the invoice's payment hash. */
async function checkPreimage(preimageHex, paymentHash) {
  const digest = await crypto.subtle.digest("SHA-256", hexToBytes(preimageHex, "preimage"));
  if (bytesToHex(new Uint8Array(digest)) !== paymentHash.toLowerCase()) {
    throw new FormatError("the preimage does not match the invoice");
  }
}

/** The invoice can no longer be paid: offer a new one. */
function invoiceFinished(kind, detail) {
  state.challenge = null;
  $("invoice").hidden = true;
  $("get-invoice").hidden = false;
  $("get-invoice").disabled = false;
  showError(`invoice_${kind}`, "The invoice expired or was canceled; get a new one", detail);
}

async function pollPayment(challenge) {
  while (!state.paid && state.challenge === challenge) {
    let status;
    try {
      status = await state.client.paymentStatus(challenge.payment_hash);
    } catch (err) {
      // 404: the node forgot the invoice. Other 4xx (410: the link ended
      // meanwhile): say so. A blip (network, 5xx): keep asking.
      if (err instanceof GatewayError && err.status === 404) return invoiceFinished("unknown", err.detail);
      if (err instanceof GatewayError && err.status >= 400 && err.status < 500) return fail(err);
      setStatus("Waiting for payment… (the gateway did not answer; retrying)", "waiting");
      await sleep(POLL_INTERVAL_MS);
      continue;
    }
    switch (status.state) {
      case "paid":
        if (typeof status.preimage !== "string") throw new FormatError("the payment status has no preimage");
        return paid(status.preimage);
      case "open":
        setStatus("Waiting for payment…", "waiting");
        break;
      case "accepted":
        // The payment is held by the node, not settled yet: still no preimage.
        setStatus("Payment arriving…", "waiting");
        break;
      default:
        // canceled, expired, unknown: this invoice is over.
        return invoiceFinished(String(status.state), "");
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/**
 * The WebLN wallet, if a browser extension injected one. `window.webln`
 * alone is not enough: the button with id "webln" is also `window.webln`
 * (named access on the window object).
 */
function weblnProvider() {
  const provider = window.webln;
  if (!provider || provider instanceof Element) return null;
  return typeof provider.enable === "function" && typeof provider.sendPayment === "function" ? provider : null;
}

async function payWithWebln() {
  const challenge = state.challenge;
  const webln = weblnProvider();
  $("webln").disabled = true;
  try {
    await webln.enable();
    const { preimage } = await webln.sendPayment(challenge.invoice);
    await paid(preimage);
  } catch (err) {
    $("webln").disabled = false;
    if (state.paid) throw err;
    showError("webln", "The wallet did not pay", err?.message ?? String(err));
    setStatus("Waiting for payment…", "waiting");
  }
}

async function paid(preimageHex) {
  await checkPreimage(preimageHex, state.challenge.payment_hash);
  // Checked after the await: the poll and WebLN may both get here.
  if (state.paid) return;
  state.paid = true;
  state.preimage = preimageHex.toLowerCase();
  $("invoice").hidden = true;
  $("message").hidden = true;
  setStatus("Paid", "paid");
  if (wantsFilePicker(state.size)) {
    // The picker needs a click; the payment arrived without one.
    $("save").textContent = "Choose where to save";
    $("save").hidden = false;
    return;
  }
  await download(blobSink(state.name));
}

/** Failures a second try with the same credential may get past. */
function retryable(err) {
  return err instanceof GatewayError && (["network", "short"].includes(err.kind) || err.status === 429 || err.status >= 500);
}

// ---- 3. download, decrypt, save ----------------------------------------------

/** Downloads with the credential of the paid invoice; offers a retry if the network failed. */
async function download(sink) {
  try {
    const response = await state.client.content(state.challenge.macaroon, state.preimage);
    await save(response, sink);
  } catch (err) {
    await sink.abort();
    if (retryable(err)) {
      $("save").textContent = "Try the download again";
      $("save").hidden = false;
    }
    throw err;
  }
}

async function save(response, sink = blobSink(state.name)) {
  const total = Number(response.headers.get("content-length")) || state.size;
  const decryptor = state.fileKey ? new E2eStreamDecryptor(state.fileKey, state.chunkSize) : null;
  const reader = response.body.getReader();
  let received = 0;
  let written = 0;
  const write = async (parts) => {
    for (const part of parts) {
      await sink.write(part);
      written += part.length;
    }
  };
  $("progress").max = Math.max(total, 1);
  $("progress").value = 0;
  $("progress").hidden = false;
  setStatus(`${state.paid ? "Paid. " : ""}Downloading ${state.name}…`, "downloading");
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      $("progress").value = Math.min(received, total);
      await write(decryptor ? await decryptor.push(value) : [value]);
    }
    if (decryptor) await write(await decryptor.finish());
    // An end-to-end stream cut to nothing opens as an empty file: the size
    // from info is what catches it. For managed blobs it catches a short body.
    if (written !== state.size) {
      throw decryptor ? new TamperError("length") : new GatewayError(0, "short", "the download was cut short");
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    await sink.abort();
    // A body cut off by the network surfaces as a TypeError from read().
    throw err instanceof TypeError ? new GatewayError(0, "short", err.message) : err;
  }
  await sink.commit();
  $("progress").value = $("progress").max;
  setStatus(`Saved ${state.name} (${humanSize(state.size)})`, "saved");
}

// ---- wiring ------------------------------------------------------------------

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs an async step; any failure ends on the page, never in the console alone. */
function guarded(step) {
  return (...args) => step(...args).catch(fail);
}

async function copyInvoice() {
  const text = $("invoice-text").value;
  try {
    await navigator.clipboard.writeText(text);
    $("copy").textContent = "Copied";
  } catch {
    $("invoice-text").select();
    $("copy").textContent = "Press Ctrl+C";
  }
  setTimeout(() => ($("copy").textContent = "Copy"), 2000);
}

$("get-invoice").addEventListener("click", guarded(getInvoice));
$("copy").addEventListener("click", guarded(copyInvoice));
$("webln").addEventListener("click", guarded(payWithWebln));
$("save").addEventListener(
  "click",
  guarded(async () => {
    $("save").hidden = true;
    $("message").hidden = true;
    await download(wantsFilePicker(state.size) ? await filePickerSink(state.name) : blobSink(state.name));
  }),
);
$("invoice-text").addEventListener("focus", () => $("invoice-text").select());
guarded(open)();
