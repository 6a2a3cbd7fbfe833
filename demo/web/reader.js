// The drawing read in the browser: the same .onnx the server runs, through onnxruntime-web, on
// the same 28x28 the server would make. This is a twin of the server's path for canvas ink:
// demo.ink.soft_ink / has_edges / keep_digit(lines=False) and demo.preprocess._normalise (with
// Pillow's BOX and BILINEAR resampling), then demo.reading and demo.answer.shown. Every rule
// here is the Python one, named the same; tests/e2e/test_browser_reader.py holds them to the
// server's answer (same 28x28, probabilities within 1e-4) on drawn digits. Change both or none.
const f32 = Math.fround;
const MIN_CONTRAST = 0.1; // demo.ink
const LOW = 0.25;
const HIGH = 0.75;
const BAND = 0.15;
const THIN_LINE = 0.03;
const EDGE_LONG = 0.75;
const FRAME = 0.7;
const INNER_DIGIT = 0.1;
const SPECK_FRACTION = 0.1;
const NEAR = 0.35;
const SCAN_SIDE = 256;
const LINE_MIN_SIDE = 64; // demo.lines
const MAX_COVERAGE = 0.9; // demo.preprocess
const CORE = 0.5;
const SOFT_EDGE = 0.1;
const DOT_RATIO = 2.5;
const DOT_EXTENT = 0.1;
const MNIST_STROKE = 2.4;
const STROKE_RANGE = [0.9, 1.6];
const THICK_POWER = 0.5;
const SUPERSAMPLE = 4;

const plane = (h, w, d = new Float32Array(h * w)) => ({ h, w, d });

function pyRound(x) {
  // Python's round(): halves go to the even neighbour
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return rest > 0.5 ? floor + 1 : floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function maxOf(p) {
  let best = -Infinity;
  for (const v of p.d) if (v > best) best = v;
  return best;
}

function crop(p, top, bottom, left, right) {
  const out = plane(bottom - top, right - left);
  for (let y = top; y < bottom; y++) out.d.set(p.d.subarray(y * p.w + left, y * p.w + right), (y - top) * out.w);
  return out;
}

function extent(p, test) {
  // [first row, last row, first col, last col] where test(value) holds, or null
  let r0 = Infinity, r1 = -1, c0 = Infinity, c1 = -1;
  for (let y = 0; y < p.h; y++)
    for (let x = 0; x < p.w; x++)
      if (test(p.d[y * p.w + x])) {
        r0 = Math.min(r0, y), r1 = Math.max(r1, y), c0 = Math.min(c0, x), c1 = Math.max(c1, x);
      }
  return r1 < 0 ? null : [r0, r1, c0, c1];
}

function trimmed(p) {
  const [r0, r1, c0, c1] = extent(p, (v) => v !== 0);
  return crop(p, r0, r1 + 1, c0, c1 + 1);
}

function coarsen(p) {
  // filters.block_mean via Pillow's reduce(2): the canvas' 280 px ink is the one size sent
  const factor = Math.ceil(Math.max(p.h, p.w) / SCAN_SIDE);
  if (factor === 1) return [p, 1];
  if (factor !== 2 || p.h % 2 || p.w % 2) throw new Error(`unsupported ink size ${p.w}x${p.h}`);
  const out = plane(p.h / 2, p.w / 2);
  for (let y = 0; y < out.h; y++)
    for (let x = 0; x < out.w; x++) {
      const i = 2 * y * p.w + 2 * x;
      const sum = f32(f32(f32(p.d[i] + p.d[i + 1]) + p.d[i + p.w]) + p.d[i + p.w + 1]);
      out.d[y * out.w + x] = f32(sum * 0.25);
    }
  return [out, 2];
}

function peak(coarse) {
  const rows = Math.trunc(BAND * coarse.h), cols = Math.trunc(BAND * coarse.w);
  let inside = 0;
  for (let y = rows; y < coarse.h - rows; y++)
    for (let x = cols; x < coarse.w - cols; x++) inside = Math.max(inside, coarse.d[y * coarse.w + x]);
  return inside >= MIN_CONTRAST ? inside : maxOf(coarse);
}

function softInk(raw) {
  const top = peak(coarsen(raw)[0]);
  if (top < MIN_CONTRAST) return null;
  const low = f32(LOW * top), span = f32((HIGH - LOW) * top);
  return plane(raw.h, raw.w, raw.d.map((v) => Math.min(Math.max(f32(f32(v - low) / span), 0), 1)));
}

function hasEdges(raw) {
  // contrast above its 5x5 mean (edges repeated) somewhere: ink with an edge
  const [c] = coarsen(raw);
  const at = (y, x) => c.d[Math.min(Math.max(y, 0), c.h - 1) * c.w + Math.min(Math.max(x, 0), c.w - 1)];
  let best = -Infinity;
  for (let y = 0; y < c.h; y++)
    for (let x = 0; x < c.w; x++) {
      let sum = 0;
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) sum += at(y + dy, x + dx);
      best = Math.max(best, f32(c.d[y * c.w + x] - f32(sum / 25)));
    }
  return best >= MIN_CONTRAST / 2;
}

function components(mask, h, w) {
  // 8-connected labels numbered by first pixel in raster order, as filters.components numbers them
  const labels = new Int32Array(h * w).fill(-1);
  let count = 0;
  for (let start = 0; start < h * w; start++) {
    if (!mask[start] || labels[start] >= 0) continue;
    const stack = [start];
    labels[start] = count;
    while (stack.length) {
      const i = stack.pop();
      const y = Math.floor(i / w), x = i % w;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const ny = y + dy, nx = x + dx, j = ny * w + nx;
          if (ny < 0 || ny >= h || nx < 0 || nx >= w || !mask[j] || labels[j] >= 0) continue;
          labels[j] = count;
          stack.push(j);
        }
    }
    count += 1;
  }
  return [labels, count];
}

function digitPieces(h, w, labels, count, mask, weights) {
  // demo.ink._digit_pieces: which pieces are the digit (true per label), or null for none
  const zeros = () => new Float64Array(count);
  const mass = zeros(), banded = zeros(), top = zeros().fill(Infinity), left = zeros().fill(Infinity);
  const bottom = zeros().fill(-Infinity), right = zeros().fill(-Infinity);
  const n = zeros(), sy = zeros(), sx = zeros(), syy = zeros(), sxx = zeros(), sxy = zeros();
  const bandY = Math.max(1, BAND * h), bandX = Math.max(1, BAND * w);
  let rim = 0;
  for (let i = 0; i < h * w; i++) {
    if (!mask[i]) continue;
    const k = labels[i], y = Math.floor(i / w), x = i % w, weight = weights[i];
    mass[k] += weight;
    if (y < bandY || y >= h - bandY || x < bandX || x >= w - bandX) banded[k] += weight;
    top[k] = Math.min(top[k], y), bottom[k] = Math.max(bottom[k], y);
    left[k] = Math.min(left[k], x), right[k] = Math.max(right[k], x);
    n[k] += 1, sy[k] += y, sx[k] += x, syy[k] += y * y, sxx[k] += x * x, sxy[k] += y * x;
    if (y === 0 || y === h - 1 || x === 0 || x === w - 1) rim += 1;
  }
  const side = Math.min(h, w);
  const piece = [...Array(count).keys()].map((k) => {
    const touches = top[k] === 0 || left[k] === 0 || bottom[k] === h - 1 || right[k] === w - 1;
    const tall = bottom[k] - top[k] + 1, wide = right[k] - left[k] + 1;
    const thin = mass[k] / Math.max(tall, wide) < THIN_LINE * side;
    const across = (top[k] === 0 && bottom[k] === h - 1) || (left[k] === 0 && right[k] === w - 1);
    const sides = (top[k] === 0) + (left[k] === 0) + (bottom[k] === h - 1) + (right[k] === w - 1);
    const [my, mx] = [sy[k] / n[k], sx[k] / n[k]];
    const [vy, vx, cxy] = [syy[k] / n[k] - my * my, sxx[k] / n[k] - mx * mx, sxy[k] / n[k] - my * mx];
    const minor = (vy + vx) / 2 - Math.sqrt(((vy - vx) / 2) ** 2 + cxy ** 2);
    const spread = Math.sqrt(Math.max(minor, 0));
    const line = sides >= 2 && spread < THIN_LINE * side && side >= LINE_MIN_SIDE;
    const edge = across && thin ? 1 : touches ? banded[k] / mass[k] : 0;
    return { touches, tall, wide, line, edge };
  });
  const argmax = (score) => score.reduce((best, s, k) => (s > score[best] ? k : best), 0);
  let main = argmax(piece.map((p, k) => mass[k] * Math.max(1 - p.edge, 0.1) ** 2));
  const framed = rim > 0.5 * (2 * h + 2 * w - 4);
  const reach = Math.max(piece[main].tall, piece[main].wide);
  const inner = piece.map(
    (p, k) =>
      !p.touches && top[k] > top[main] && bottom[k] < bottom[main] && left[k] > left[main] &&
      right[k] < right[main] && (framed || Math.max(p.tall, p.wide) >= INNER_DIGIT * reach),
  );
  const big = piece[main].tall >= FRAME * h && piece[main].wide >= FRAME * w;
  if ((framed || big) && inner.some(Boolean)) {
    for (const p of piece) if (p.touches) p.edge = 1;
    main = argmax(piece.map((_, k) => (inner[k] ? mass[k] : 0)));
  }
  if (piece[main].line) return null;
  const keep = piece.map((_, k) => k === main);
  const ok = piece.map((p, k) => {
    const long = p.tall >= EDGE_LONG * h || p.wide >= EDGE_LONG * w;
    return !(p.edge > 0.6 && long) && mass[k] >= SPECK_FRACTION * mass[main];
  });
  let box = [top[main], left[main], bottom[main], right[main]];
  for (;;) {
    const near = NEAR * Math.max(box[2] - box[0], box[3] - box[1]) + 1;
    const add = piece.map(
      (_, k) =>
        !keep[k] && ok[k] && top[k] <= box[2] + near && bottom[k] >= box[0] - near &&
        left[k] <= box[3] + near && right[k] >= box[1] - near,
    );
    if (!add.some(Boolean)) return keep;
    add.forEach((a, k) => a && (keep[k] = true));
    const kept = [...keep.keys()].filter((k) => keep[k]);
    box = [
      Math.min(...kept.map((k) => top[k])),
      Math.min(...kept.map((k) => left[k])),
      Math.max(...kept.map((k) => bottom[k])),
      Math.max(...kept.map((k) => right[k])),
    ];
  }
}

function keepDigit(ink) {
  // demo.ink.keep_digit(lines=False): the digit's pieces, far specks and edge bands dropped
  const [coarse, factor] = coarsen(ink);
  const mask = coarse.d.map((v) => (v > 0 ? 1 : 0));
  if (!mask.some(Boolean)) return null;
  const [labels, count] = components(mask, coarse.h, coarse.w);
  const keep = digitPieces(coarse.h, coarse.w, labels, count, mask, coarse.d);
  if (keep === null) return null;
  const out = plane(ink.h, ink.w);
  for (let y = 0; y < ink.h; y++)
    for (let x = 0; x < ink.w; x++) {
      const i = Math.floor(y / factor) * coarse.w + Math.floor(x / factor);
      if (mask[i] && keep[labels[i]]) out.d[y * ink.w + x] = ink.d[y * ink.w + x];
    }
  return out;
}

function weights(inSize, outSize, filter, support) {
  // Pillow's precompute_coeffs: per output pixel, the first input pixel and normalised weights
  const scale = inSize / outSize, filterScale = Math.max(scale, 1);
  const reach = support * filterScale;
  return [...Array(outSize).keys()].map((xx) => {
    const centre = (xx + 0.5) * scale;
    const first = Math.max(Math.trunc(centre - reach + 0.5), 0);
    const last = Math.min(Math.trunc(centre + reach + 0.5), inSize);
    const k = [];
    const ss = 1 / filterScale;
    for (let x = first; x < last; x++) k.push(filter((x - centre + 0.5) * ss));
    const total = k.reduce((a, b) => a + b, 0);
    return [first, total !== 0 ? k.map((v) => v / total) : k];
  });
}

const box = (x) => (x > -0.5 && x <= 0.5 ? 1 : 0);
const bilinear = (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0);

function resize(p, w, h) {
  // demo.preprocess._resize: BOX when shrinking both ways, else BILINEAR (Pillow, float image)
  const [filter, support] = w <= p.w && h <= p.h ? [box, 0.5] : [bilinear, 1];
  let out = p;
  if (w !== p.w) {
    const ks = weights(p.w, w, filter, support);
    const next = plane(out.h, w);
    for (let y = 0; y < out.h; y++)
      ks.forEach(([first, k], x) => {
        let sum = 0;
        k.forEach((v, j) => (sum += out.d[y * out.w + first + j] * v));
        next.d[y * w + x] = sum;
      });
    out = next;
  }
  if (h !== p.h) {
    const ks = weights(p.h, h, filter, support);
    const next = plane(h, out.w);
    ks.forEach(([first, k], y) => {
      for (let x = 0; x < out.w; x++) {
        let sum = 0;
        k.forEach((v, j) => (sum += out.d[(first + j) * out.w + x] * v));
        next.d[y * out.w + x] = sum;
      }
    });
    out = next;
  }
  return out;
}

function fit(p, side) {
  // demo.preprocess._fit: crop to the ink, longer side scaled to `side`
  const cropped = trimmed(p);
  const scale = side / Math.max(cropped.h, cropped.w);
  return resize(cropped, Math.max(1, pyRound(cropped.w * scale)), Math.max(1, pyRound(cropped.h * scale)));
}

function strokeWidth(p, test) {
  // demo.preprocess.stroke_width of the mask where test(value) holds
  const on = (y, x) => y >= 0 && y < p.h && x >= 0 && x < p.w && test(p.d[y * p.w + x]);
  let area = 0, edges = 0;
  for (let y = -1; y < p.h; y++)
    for (let x = -1; x < p.w; x++) {
      if (y >= 0 && x >= 0 && on(y, x)) area += 1;
      if (x >= 0 && on(y, x) !== on(y + 1, x)) edges += 1;
      if (y >= 0 && on(y, x) !== on(y, x + 1)) edges += 1;
    }
  return edges === 0 ? 0 : (2 * area) / ((edges * Math.PI) / 4);
}

function morphStep(p, step, op) {
  // one grey erosion/dilation step: a 3x3 square on even steps, a cross on odd, zero outside
  const out = plane(p.h, p.w);
  for (let y = 0; y < p.h; y++)
    for (let x = 0; x < p.w; x++) {
      let v = null;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          if (step % 2 && dy * dx !== 0) continue;
          const ny = y + dy, nx = x + dx;
          const u = ny < 0 || ny >= p.h || nx < 0 || nx >= p.w ? 0 : p.d[ny * p.w + nx];
          v = v === null ? u : op(v, u);
        }
      out.d[y * p.w + x] = v;
    }
  return out;
}

function morph(p, radius, op) {
  const whole = Math.trunc(radius);
  for (let step = 0; step < whole; step++) p = morphStep(p, step, op);
  const part = radius - whole;
  if (part <= 0) return p;
  const next = morphStep(p, whole, op), keep = f32(1 - part), take = f32(part);
  return plane(p.h, p.w, p.d.map((v, i) => f32(f32(keep * v) + f32(take * next.d[i]))));
}

function targetWidth(width) {
  const [low, high] = STROKE_RANGE.map((edge) => edge * MNIST_STROKE);
  if (width > high) return high * (width / high) ** THICK_POWER;
  if (width > 0 && width < low) return low; // THIN_POWER 0: thin strokes come up to the edge
  return width;
}

function evenStrokes(fine) {
  const width = strokeWidth(fine, (v) => v > 0.5) / SUPERSAMPLE;
  const radius = ((targetWidth(width) - width) * SUPERSAMPLE) / 2;
  if (radius > 0) return morph(fine, radius, Math.max);
  if (radius < 0) {
    const thinned = morph(fine, -radius, Math.min);
    return maxOf(thinned) > 0.5 ? thinned : fine;
  }
  return fine;
}

function normalise(ink, imageSize, digitBox) {
  // demo.preprocess._normalise: crop, scale, even the strokes, centre the mass
  const core = extent(ink, (v) => v > CORE);
  if (core === null) return null;
  const [r0, r1, c0, c1] = core;
  const reach = 1 + pyRound(SOFT_EDGE * Math.max(r1 - r0, c1 - c0));
  const around = crop(
    ink,
    Math.max(0, r0 - reach),
    Math.min(ink.h, r1 + reach + 1),
    Math.max(0, c0 - reach),
    Math.min(ink.w, c1 + reach + 1),
  );
  const digitInk = trimmed(around);
  const longest = Math.max(digitInk.h, digitInk.w);
  const small = longest < DOT_EXTENT * Math.max(ink.h, ink.w);
  if (small && longest < DOT_RATIO * strokeWidth(digitInk, (v) => v > 0.5)) return null;
  let fine = fit(digitInk, SUPERSAMPLE * digitBox);
  const top = f32(Math.max(maxOf(fine), 1e-6));
  fine = evenStrokes(plane(fine.h, fine.w, fine.d.map((v) => f32(v / top))));
  const digit = fit(plane(fine.h, fine.w, fine.d.map((v) => (v > 0.02 ? v : 0))), digitBox);
  const gain = f32(255 / Math.max(maxOf(digit), 1e-6));
  digit.d = digit.d.map((v) => f32(Math.max(v, 0) * gain));
  let mass = 0, cy = 0, cx = 0;
  for (let y = 0; y < digit.h; y++)
    for (let x = 0; x < digit.w; x++) {
      const v = digit.d[y * digit.w + x];
      (mass += v), (cy += v * y), (cx += v * x);
    }
  const place = (centre, n) => Math.min(Math.max(pyRound(imageSize / 2 - centre / mass), 0), imageSize - n);
  const [y0, x0] = [place(cy, digit.h), place(cx, digit.w)];
  const out = new Float32Array(imageSize * imageSize);
  for (let y = 0; y < digit.h; y++) out.set(digit.d.subarray(y * digit.w, (y + 1) * digit.w), (y0 + y) * imageSize + x0);
  return out;
}

function borderMedian(raw) {
  const { h, w, d } = raw;
  const border = [...d.subarray(0, w), ...d.subarray((h - 1) * w)];
  for (let y = 0; y < h; y++) border.push(d[y * w], d[y * w + w - 1]);
  border.sort((a, b) => a - b);
  const middle = border.length / 2;
  return (border[middle - 1] + border[middle]) / 2;
}

/** Canvas alpha (Uint8 per pixel, side x side) -> {pixels} (28x28, 0..255), {blank}, {error},
 * or {server}: ink over most of the border is read as a photo by the server (demo.preprocess
 * ._raw_ink), a path this twin leaves to it. */
export function drawingPixels(alpha, side, imageSize, digitBox, mostlyInk) {
  const raw = plane(side, side, Float32Array.from(alpha, (a) => f32(a / 255)));
  if (borderMedian(raw) >= 0.5) return { server: true };
  const ink = softInk(raw);
  if (ink === null) return { blank: true };
  if (ink.d.reduce((a, b) => a + b, 0) / ink.d.length > MAX_COVERAGE) return { error: mostlyInk };
  const digit = hasEdges(raw) ? keepDigit(ink) : null;
  const pixels = digit && normalise(digit, imageSize, digitBox);
  return pixels ? { pixels } : { blank: true };
}

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
    const rows = [];
    for (let r = 0; r < size; r++)
      rows.push(softmax(out.row_logits.data.subarray(r * classes, (r + 1) * classes), card.temperature));
    return shown(card, softmax(out.logits.data, card.temperature), rows, found.pixels, number);
  }
  return { precision: card.precision, read };
}
