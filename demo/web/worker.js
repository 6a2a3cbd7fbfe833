// Reads drawings off the page's main thread, so a guess never holds up the stroke being drawn.
// The canvas' ink plane goes to the reader graph as it is (onnxruntime-web, the same .onnx the
// server runs); the graph's outputs become the answer object in shown.js. A number comes as one
// plane per digit (demo/canvas.js groups the strokes), each read by the same graph.
// In: {open: config} once (demo.browser's config, URLs absolute), then {planes, n}: planes is
// [{ink, width, height}] for one digit, [{ink, width, height, box, key}, ...] for a number.
// Out: {ready, files} or {failed}, then {n, answer} per read, or {n, failed} if a read throws.
import { shown, shownNumber } from "./shown.js";

let reader = null;
const KEPT = 64; // digits' outputs kept by plane key: an unchanged digit of a number is not re-run

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
  const run = ({ ink, width, height }) => session.run({ [input]: new ort.Tensor("float32", ink, [1, height, width]) });
  const kept = new Map(); // plane key -> that digit plane's outputs
  const digit = async (plane) => {
    if (kept.has(plane.key)) return kept.get(plane.key);
    const outputs = await run(plane);
    kept.set(plane.key, outputs);
    if (kept.size > KEPT) kept.delete(kept.keys().next().value); // the oldest goes
    return outputs;
  };
  return async (planes, number) => {
    if (planes.length === 1) return shown(await run(planes[0]), answer, number);
    const outputs = [];
    for (const plane of planes) outputs.push(await digit(plane)); // one session.run per new digit
    return shownNumber(outputs, planes.map((p) => p.box), answer, number);
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
    self.postMessage({ n: data.n, answer: await reader(data.planes, data.n) });
  } catch (error) {
    self.postMessage({ n: data.n, failed: String(error) });
  }
};
