// Reads drawings off the page's main thread, so a guess never holds up the stroke being drawn.
// Messages in: {open: config} once (demo.browser's config, URLs absolute), then {alpha, side, n}.
// Out: {ready, files} or {failed}, then {n, answer} per read (answer null: the server must read it),
// or {n, failed} if a read throws.
import { openReader } from "./reader.js";

let reader = null;

self.onmessage = async ({ data }) => {
  if (data.open) {
    try {
      reader = await openReader(data.open);
      // what this worker downloaded ([url, bytes on the wire]): the page's own timing misses it
      const files = performance.getEntriesByType("resource").map((e) => [e.name, e.transferSize]);
      self.postMessage({ ready: true, files });
    } catch (error) {
      self.postMessage({ failed: String(error) });
    }
    return;
  }
  try {
    self.postMessage({ n: data.n, answer: await reader.read(data.alpha, data.side, data.n) });
  } catch (error) {
    self.postMessage({ n: data.n, failed: String(error) });
  }
};
