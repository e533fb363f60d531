#!/usr/bin/env node
// Drives the share download page in a real headless Chromium, as a buyer
// would: open the link, get the invoice, wait while the caller pays it,
// save the file. The Rust end-to-end tests run it and read its stdout.
//
//   node tests/browser/share_download.mjs --url <link> --out <dir>
//        [--screenshots <dir>] [--expect-error KIND] [--timeout SECONDS]
//
// stdout, one line each, in this order:
//   INVOICE <bolt11>   the invoice to pay (the caller pays it from a node)
//   SAVED <path>       the file the page saved, copied to <out>
// or, with --expect-error KIND (expired, revoked, used_up, not_found,
// incomplete, tampered, …: the page's #message data-error):
//   ERROR <kind>
// Exit 0 on success; 1 with the page's #message and console on stderr.
//
// Every request the browser sent (URL, method, headers, body) is written to
// <out>/requests.json, so the caller can check the secret never left it.
//
// Needs playwright-core in $SHARDGATE_TOOLS/node (default <repo>/.tools/node)
// and Chromium at /usr/bin/chromium (or $SHARDGATE_CHROMIUM): both installed
// by scripts/install-test-peers.sh.

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TOOLS = process.env.SHARDGATE_TOOLS ?? path.join(REPO, ".tools");
const CHROMIUM = process.env.SHARDGATE_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** How long the page may take to show the link's details or its error. */
const LOAD_TIMEOUT_MS = 30_000;
/** Download rate with --screenshots: 20 MiB take about 5 s, long enough to catch. */
const SCREENSHOT_DOWNLOAD_BYTES_PER_S = 4 * 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    out: { type: "string" },
    screenshots: { type: "string" },
    "expect-error": { type: "string" },
    timeout: { type: "string", default: "60" },
  },
});
if (!args.url || !args.out) {
  console.error("usage: share_download.mjs --url <link> --out <dir> [--screenshots <dir>] [--expect-error KIND] [--timeout SECONDS]");
  process.exit(2);
}
const payTimeoutMs = Number(args.timeout) * 1000;
if (!(payTimeoutMs > 0)) {
  console.error(`--timeout must be a positive number of seconds, got ${args.timeout}`);
  process.exit(2);
}

const require = createRequire(path.join(TOOLS, "node", "package.json"));
let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch (err) {
  console.error(`playwright-core not found under ${TOOLS}/node: run scripts/install-test-peers.sh (${err.message})`);
  process.exit(1);
}

const consoleLines = [];
const requests = [];
let page;

/** Reads what the page currently says: status, state, error kind and message. */
async function pageSays() {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id)?.textContent.trim() ?? "";
    const message = document.getElementById("message");
    return {
      state: document.getElementById("status")?.dataset.state ?? "",
      status: text("status"),
      error: message && !message.hidden ? (message.dataset.error ?? "") : "",
      message: text("message-text"),
      detail: text("message-detail"),
      // The page waits for a click: a large file's save picker (which a
      // headless browser cannot answer) or a retry after a failed download.
      asks: document.getElementById("save")?.hidden === false ? text("save") : "",
    };
  });
}

/** Waits until the page shows one of `states`, an error, or asks for a click (returned too). */
async function waitForState(states, timeout) {
  await page.waitForFunction(
    (wanted) => {
      const message = document.getElementById("message");
      const state = document.getElementById("status")?.dataset.state ?? "";
      const asks = document.getElementById("save")?.hidden === false;
      return wanted.includes(state) || asks || (message && !message.hidden && message.dataset.error);
    },
    states,
    { timeout, polling: 100 },
  );
  return pageSays();
}

async function screenshot(name) {
  if (args.screenshots) await page.screenshot({ path: path.join(args.screenshots, name), fullPage: true });
}

/** Caps the page's download rate (Chromium's network emulation). */
async function throttleDownloads() {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: SCREENSHOT_DOWNLOAD_BYTES_PER_S,
    uploadThroughput: -1,
  });
}

class PageError extends Error {}

function failOn(says) {
  if (says.error) throw new PageError(`the page shows error ${says.error}: ${says.message} ${says.detail}`.trim());
  if (says.asks) throw new PageError(`the page waits for a click on "${says.asks}", which this driver does not give`);
}

async function expectError(kind) {
  // A refused or tampered download must leave nothing behind.
  let savedAnyway = null;
  page.on("download", (item) => (savedAnyway = item.suggestedFilename()));
  let says = await waitForState(["ready"], LOAD_TIMEOUT_MS);
  if (!says.error) {
    // Details shown: the refusal may come with the invoice or the download.
    await page.click("#get-invoice");
    says = await waitForState(["waiting", "saved"], LOAD_TIMEOUT_MS);
    if (says.state === "waiting" && !says.error) {
      console.log(`INVOICE ${await page.inputValue("#invoice-text")}`);
      says = await waitForState(["saved"], payTimeoutMs);
    }
  }
  await screenshot("error.png");
  if (says.error !== kind) {
    throw new PageError(`expected error ${kind}, the page ${says.error ? `shows ${says.error}` : `says "${says.status}"`}`);
  }
  if (savedAnyway !== null) throw new PageError(`the page shows ${kind} but saved ${savedAnyway}`);
  console.log(`ERROR ${kind}`);
}

async function download() {
  failOn(await waitForState(["ready"], LOAD_TIMEOUT_MS));
  await page.waitForFunction(() => document.getElementById("price")?.textContent.trim() !== "");
  await screenshot("1-price.png");

  // Listen before clicking: a free download starts at once.
  const downloaded = page.waitForEvent("download", { timeout: LOAD_TIMEOUT_MS + payTimeoutMs });
  downloaded.catch(() => {}); // awaited below; a page error may come first
  await page.click("#get-invoice");
  let says = await waitForState(["waiting", "saved"], LOAD_TIMEOUT_MS);
  failOn(says);
  if (says.state === "waiting") {
    await screenshot("2-invoice.png");
    // On loopback a paid download is saved within milliseconds: for the
    // "paid" screenshot, slow the browser's network so the page is caught
    // mid-download. Only with --screenshots; the bytes are the same.
    if (args.screenshots) await throttleDownloads();
    console.log(`INVOICE ${await page.inputValue("#invoice-text")}`);
    says = await waitForState(["paid", "downloading", "saved"], payTimeoutMs);
    failOn(says);
    if (args.screenshots) {
      await page.waitForFunction(
        () => {
          const bar = document.getElementById("progress");
          return (bar && bar.value >= bar.max / 4) || document.getElementById("status")?.dataset.state === "saved";
        },
        null,
        { timeout: LOAD_TIMEOUT_MS, polling: 50 },
      );
      await screenshot("3-paid.png");
    }
  }
  const item = await Promise.race([
    downloaded,
    waitForState(["saved"], LOAD_TIMEOUT_MS + payTimeoutMs).then((s) => {
      failOn(s);
      return downloaded;
    }),
  ]);
  const failure = await item.failure();
  if (failure) throw new PageError(`the browser's download failed: ${failure}`);
  await mkdir(args.out, { recursive: true });
  const saved = path.join(args.out, path.basename(item.suggestedFilename()));
  await item.saveAs(saved);
  failOn(await waitForState(["saved"], LOAD_TIMEOUT_MS));
  await screenshot("4-saved.png");
  console.log(`SAVED ${saved}`);
}

async function main() {
  await mkdir(args.out, { recursive: true });
  if (args.screenshots) await mkdir(args.screenshots, { recursive: true });
  const profile = await mkdtemp(path.join(os.tmpdir(), "shardgate-chromium-"));
  const context = await chromium
    .launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      acceptDownloads: true,
      timeout: LOAD_TIMEOUT_MS,
      viewport: { width: 480, height: 900 },
    })
    .catch(async (err) => {
      await rm(profile, { recursive: true, force: true });
      throw new Error(`cannot start ${CHROMIUM} (run scripts/install-test-peers.sh): ${err.message}`);
    });
  const pending = [];
  context.on("request", (request) => {
    pending.push(
      request.allHeaders().then((headers) => {
        requests.push({
          url: request.url(),
          method: request.method(),
          resource_type: request.resourceType(),
          headers,
          post_data: request.postData(),
        });
      }),
    );
  });
  let code = 0;
  try {
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
    page.on("pageerror", (err) => consoleLines.push(`[pageerror] ${err.message}`));
    await page.goto(args.url, { timeout: LOAD_TIMEOUT_MS });
    if (args["expect-error"]) await expectError(args["expect-error"]);
    else await download();
  } catch (err) {
    code = 1;
    console.error(`share_download: ${err.message}`);
    if (page) {
      const says = await pageSays().catch(() => null);
      if (says) console.error(`page: state=${says.state} status="${says.status}" error=${says.error} message="${says.message}" detail="${says.detail}"`);
      await screenshot("failure.png").catch(() => {});
    }
    for (const line of consoleLines) console.error(`console: ${line}`);
  } finally {
    await Promise.allSettled(pending);
    await writeFile(path.join(args.out, "requests.json"), JSON.stringify(requests, null, 2) + "\n");
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  }
  process.exit(code);
}

main().catch((err) => {
  console.error(`share_download: ${err.message}`);
  process.exit(1);
});
