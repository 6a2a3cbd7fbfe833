// Reads drawings off the page's main thread, so a guess never holds up the stroke being drawn.
// The canvas' ink plane goes to the reader graph as it is (onnxruntime-web, the same .onnx the
// server runs); the graph's outputs become the answer object in shown.js.
// In: {open: config} once (demo.browser's config, URLs absolute), then {ink, side, n}.
// Out: {ready, files} or {failed}, then {n, answer} per read, or {n, failed} if a read throws.
import { shown } from "./shown.js";

let reader = null;

async function inflated(url) {
  // the runtime's WebAssembly travels gzipped (demo.webruntime); the browser inflates it
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
}

async function open({ runtime, wasm, model, input, answer }) {
  const [ort, binary] = await Promise.all([import(runtime), inflated(wasm)]);
  ort.env.wasm.numThreads = 1; // a page needs no worker threads (nor cross-origin isolation)
  ort.env.wasm.wasmBinary = binary;
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  return async (ink, side, number) => {
    const outputs = await session.run({ [input]: new ort.Tensor("float32", ink, [1, side, side]) });
    return shown(outputs, answer, number);
  };
}

self.onmessage = async ({ data }) => {
  if (data.open) {
    try {
      reader = await open(data.open);
      // what this worker downloaded ([url, bytes on the wire]): the page's own timing misses it
      const files = performance.getEntriesByType("resource").map((e) => [e.name, e.transferSize]);
      self.postMessage({ ready: true, files });
    } catch (error) {
      self.postMessage({ failed: String(error) });
    }
    return;
  }
  try {
    self.postMessage({ n: data.n, answer: await reader(data.ink, data.side, data.n) });
  } catch (error) {
    self.postMessage({ n: data.n, failed: String(error) });
  }
};
