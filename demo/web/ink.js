// Twin of demo/ink.py for canvas ink: soft_ink, has_edges and keep_digit(lines=False), each
// rule the Python one under the same name. Held to it by tests/test_demo_reader_twin.py.
import { f32, maxOf, plane } from "./planes.js";

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

export function softInk(raw) {
  const top = peak(coarsen(raw)[0]);
  if (top < MIN_CONTRAST) return null;
  const low = f32(LOW * top), span = f32((HIGH - LOW) * top);
  return plane(raw.h, raw.w, raw.d.map((v) => Math.min(Math.max(f32(f32(v - low) / span), 0), 1)));
}

export function hasEdges(raw) {
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

export function keepDigit(ink) {
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
