// The drawing read in the browser: the same .onnx the server runs, through onnxruntime-web, on
// the same 28x28 the server would make (preprocess.js), with demo.classifier's calibrated softmax
// (the card's temperature, warmed for strokes wider than familiar digits': width.js)
// and demo.answer.shown's answer. Runs in worker.js, off the page's main thread.
// tests/e2e/test_browser_reader.py holds the answers to the server's (same 28x28, probabilities
// within 1e-4) on drawn digits. Change both sides or neither.
import { f32, plane, pyRound } from "./planes.js";
import { drawingPixels } from "./preprocess.js";
import { temperatureFor } from "./width.js";

function softmax(logits, temperature) {
  // demo.classifier.softmax(logits / temperature): float32 division, float64 sums
  const z = Array.from(logits, (v) => f32(v / f32(temperature)));
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => f32(v / total));
}

const argmax = (values) => values.reduce((best, v, k) => (v > values[best] ? k : best), 0);
const rint = (v) => pyRound(Math.min(Math.max(v, 0), 255)); // np.rint: halves to even
const grid = (values) => btoa(String.fromCharCode(...values.map(rint)));
const rounded = (v, places) => Number(v.toFixed(places));
const percent = (p) => `${Math.floor(100 * p)}%`; // demo.answer.percent: floored

/** demo.answer.shown for one reading: the object the server would send for this ink. */
export function shown(card, probabilities, rows, pixels, number) {
  const names = card.class_names;
  const ranked = [...names.keys()].sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  const [best, second] = ranked;
  const label = names[best], runnerUp = names[second], confidence = probabilities[best];
  const sure = confidence >= card.sure_at;
  let settled = 1;
  rows.forEach((row, r) => argmax(row) !== best && (settled = r + 2));
  let message = sure
    ? `Read as ${label} (${percent(confidence)} sure); the guess settled on ${label} after row ` +
      `${settled} of ${rows.length}. ${card.precision} model.`
    : `Not sure: maybe ${label}, or ${runnerUp} (${percent(confidence)} for ${label}). ` +
      `${card.precision} model.`;
  if (card.approximate) message = message.slice(0, -1) + ": its confidences are approximate (quantized weights).";
  return {
    state: "reading",
    message,
    for: number,
    label,
    confidence: rounded(confidence, 6),
    sure,
    probabilities: Object.fromEntries(names.map((name, k) => [name, rounded(probabilities[k], 6)])),
    runner_up: runnerUp,
    model: card.precision,
    settled_row: settled,
    classes: [...names],
    top: ranked.slice(0, 3).map((k) => [names[k], rounded(probabilities[k], 4)]),
    pixels: grid(Array.from(pixels)),
    rows: grid(rows.flatMap((row) => row.map((p) => f32(p * 255)))),
    rows_shape: [rows.length, names.length],
  };
}

async function inflated(url) {
  // the runtime's WebAssembly travels gzipped (demo.webruntime); the browser inflates it
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
}

/** The page's reader: {runtime, wasm, model, card, messages} (demo.browser) -> {precision, read}.
 * read(alpha, side, n) resolves to the answer object, or null when the server must read it. */
export async function openReader({ runtime, wasm, model, card, messages }) {
  const [ort, binary] = await Promise.all([import(runtime), inflated(wasm)]);
  ort.env.wasm.numThreads = 1; // a page needs no worker threads (nor cross-origin isolation)
  ort.env.wasm.wasmBinary = binary;
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const size = card.image_size, classes = card.class_names.length;
  async function read(alpha, side, number) {
    const found = drawingPixels(alpha, side, size, card.digit_box, messages.mostly_ink);
    if (found.server) return null;
    if (found.error) return { state: "error", message: messages.cannot + found.error, for: number };
    if (found.blank) return { state: "empty", message: messages.blank, for: number };
    const input = Float32Array.from(found.pixels, (v) => f32(v / f32(card.pixel_scale)));
    const out = await session.run({ [card.input]: new ort.Tensor("float32", input, [1, size, size]) });
    const temperature = temperatureFor(plane(size, size, input), card);
    const rows = [];
    for (let r = 0; r < size; r++)
      rows.push(softmax(out.row_logits.data.subarray(r * classes, (r + 1) * classes), temperature));
    return shown(card, softmax(out.logits.data, temperature), rows, found.pixels, number);
  }
  return { precision: card.precision, read };
}
