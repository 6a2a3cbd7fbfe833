// Shared by the twins of demo/ink.py and demo/preprocess.py: float32 planes, Python's rounding.
export const f32 = Math.fround;

export const plane = (h, w, d = new Float32Array(h * w)) => ({ h, w, d });

export function pyRound(x) {
  // Python's round(): halves go to the even neighbour
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return rest > 0.5 ? floor + 1 : floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function maxOf(p) {
  let best = -Infinity;
  for (const v of p.d) if (v > best) best = v;
  return best;
}

export function crop(p, top, bottom, left, right) {
  const out = plane(bottom - top, right - left);
  for (let y = top; y < bottom; y++) out.d.set(p.d.subarray(y * p.w + left, y * p.w + right), (y - top) * out.w);
  return out;
}

export function extent(p, test) {
  // [first row, last row, first col, last col] where test(value) holds, or null
  let r0 = Infinity, r1 = -1, c0 = Infinity, c1 = -1;
  for (let y = 0; y < p.h; y++)
    for (let x = 0; x < p.w; x++)
      if (test(p.d[y * p.w + x])) {
        r0 = Math.min(r0, y), r1 = Math.max(r1, y), c0 = Math.min(c0, x), c1 = Math.max(c1, x);
      }
  return r1 < 0 ? null : [r0, r1, c0, c1];
}

export function trimmed(p) {
  const [r0, r1, c0, c1] = extent(p, (v) => v !== 0);
  return crop(p, r0, r1 + 1, c0, c1 + 1);
}
