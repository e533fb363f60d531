// How the download page words sizes, prices, expiry and download counts.
// Pure functions (no DOM, no locale): the Node tests pin their output.

const SIZE_UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 → "1.5 KiB"; below 1 KiB the exact count of bytes. */
export function humanSize(bytes) {
  if (bytes < 1024) return bytes === 1 ? "1 byte" : `${bytes} bytes`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${SIZE_UNITS[unit]}`;
}

function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A price in millisatoshis as satoshis, exact: 21000 → "21 sat",
 * 1500 → "1.5 sat", 1 → "0.001 sat". Integer arithmetic (BigInt), so no
 * rounding ever hides a fraction the wallet will be asked for.
 */
export function formatSats(msat) {
  const total = BigInt(msat);
  const whole = total / 1000n;
  const frac = (total % 1000n).toString().padStart(3, "0").replace(/0+$/, "");
  return `${groupThousands(whole.toString())}${frac ? "." + frac : ""} sat`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "in 3 days", "in 5 hours", "in 12 minutes", "in less than a minute". */
export function relativeFuture(ms) {
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return "in less than a minute";
  if (minutes < 120) return `in ${plural(minutes, "minute")}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `in ${plural(hours, "hour")}`;
  return `in ${plural(Math.floor(hours / 24), "day")}`;
}

/** The expiry line: "Never expires" or "Expires 2026-12-31 23:59 UTC (in 3 days)". */
export function formatExpiry(expiresAtUnixMs, nowUnixMs) {
  if (expiresAtUnixMs === null || expiresAtUnixMs === undefined) return "Never expires";
  const when = new Date(expiresAtUnixMs).toISOString().slice(0, 16).replace("T", " ");
  if (expiresAtUnixMs <= nowUnixMs) return `Expired ${when} UTC`;
  return `Expires ${when} UTC (${relativeFuture(expiresAtUnixMs - nowUnixMs)})`;
}

/** "Unlimited downloads", "1 download left", "3 downloads left". */
export function formatDownloadsLeft(left) {
  if (left === null || left === undefined) return "Unlimited downloads";
  return `${plural(left, "download")} left`;
}
