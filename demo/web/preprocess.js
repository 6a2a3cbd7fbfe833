// Twin of demo/preprocess.py for canvas ink: _normalise (crop, Pillow's BOX and BILINEAR
// resampling, stroke evening, centring) and find_ink's path for a transparent drawing layer.
// Held to the server by tests/test_demo_reader_twin.py (Node) and tests/e2e (Chromium).
import { hasEdges, keepDigit, softInk } from "./ink.js";
import { crop, extent, f32, maxOf, plane, pyRound, trimmed } from "./planes.js";
import { strokeWidth } from "./width.js";

const MAX_COVERAGE = 0.9; // demo.preprocess
const CORE = 0.5;
const SOFT_EDGE = 0.1;
const DOT_RATIO = 2.5;
const DOT_EXTENT = 0.1;
const MNIST_STROKE = 2.4;
const STROKE_RANGE = [0.9, 1.6];
const THICK_POWER = 0.5;
const SUPERSAMPLE = 4;

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

function pairwiseSum(values, round) {
  // numpy's pairwise summation, as ndarray.sum runs along a contiguous axis; round: f32 or Number
  const n = values.length;
  if (n < 8) return Array.prototype.reduce.call(values, (sum, v) => round(sum + v), 0);
  if (n > 128) {
    const half = Math.floor(n / 2) - (Math.floor(n / 2) % 8);
    return round(pairwiseSum(values.slice(0, half), round) + pairwiseSum(values.slice(half), round));
  }
  const r = Array.from(values.slice(0, 8));
  let i = 8;
  for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = round(r[j] + values[i + j]);
  let sum = round(round(round(r[0] + r[1]) + round(r[2] + r[3])) + round(round(r[4] + r[5]) + round(r[6] + r[7])));
  for (; i < n; i++) sum = round(sum + values[i]);
  return sum;
}

function columnSums(p) {
  // ndarray.sum(axis=0) in float32: row after row into each column, or pairwise for one column
  if (p.w === 1) return [pairwiseSum(p.d, f32)];
  const sums = new Array(p.w).fill(0);
  for (let y = 0; y < p.h; y++) for (let x = 0; x < p.w; x++) sums[x] = f32(sums[x] + p.d[y * p.w + x]);
  return sums;
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
  // the centre of mass summed in numpy's order (float32 sums, then float64): a symmetric digit
  // sits exactly on a half pixel, where the last bit of the sum decides the rounding
  const rowSums = [...Array(digit.h).keys()].map((y) => pairwiseSum(digit.d.subarray(y * digit.w, (y + 1) * digit.w), f32));
  const mass = pairwiseSum(digit.d, f32);
  const cy = pairwiseSum(rowSums.map((sum, y) => sum * y), Number);
  const cx = pairwiseSum(columnSums(digit).map((sum, x) => sum * x), Number);
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
