// Where the page puts the file. Both sinks commit only after the whole
// stream has been checked, so a tampered or cut download leaves nothing.

/**
 * Above this size the page asks for a file to write into as it goes (when
 * the browser can), instead of holding the whole file in memory as a Blob.
 */
export const LARGE_FILE_BYTES = 512 * 1024 * 1024;

/** Whether to use the file picker: a large file and a browser that has one. */
export function wantsFilePicker(size) {
  return size > LARGE_FILE_BYTES && typeof window.showSaveFilePicker === "function";
}

/** A name safe to suggest to the browser: no path separators or control characters. */
export function safeFileName(name, fallback) {
  // eslint-disable-next-line no-control-regex
  const cleaned = String(name ?? "").replace(/[\u0000-\u001f\u007f/\\]/g, "_").trim();
  return cleaned === "" || cleaned === "." || cleaned === ".." ? fallback : cleaned;
}

/**
 * Writes into a file the user picked. Must be called from a click (the
 * picker needs user activation). `abort` discards what was written: the
 * browser keeps writes in a swap file until `close`.
 */
export async function filePickerSink(name) {
  const handle = await window.showSaveFilePicker({ suggestedName: name });
  const writable = await handle.createWritable();
  return {
    write: (bytes) => writable.write(bytes),
    commit: () => writable.close(),
    // Idempotent: a failed download may abort from two places.
    abort: () => writable.abort().catch(() => {}),
  };
}

/**
 * Collects the chunks as Blob parts and saves them through an object URL and
 * an `<a download>` click (what headless browsers and most phones support).
 */
export function blobSink(name) {
  let parts = [];
  return {
    write: async (bytes) => {
      parts.push(bytes);
    },
    commit: async () => {
      const blob = new Blob(parts, { type: "application/octet-stream" });
      parts = [];
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      // Revoking at once can cancel the download in some browsers; a minute
      // is ample for the browser to have taken its own reference.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort: async () => {
      parts = [];
    },
  };
}
