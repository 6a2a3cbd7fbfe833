// Twin of demo/width.py: how wide a digit's strokes are, and the temperature that warms past
// the familiar digits' widths. Held to the server by tests/test_demo_reader_twin.py (Node) and
// tests/e2e/test_browser_reader.py (Chromium).
export const INK_AT = 0.5; // demo.width

export function strokeWidth(p, test) {
  // demo.width.stroke_width of the mask where test(value) holds
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

/** demo.width.warm for one input scaled to 0..1 (a plane): the temperature its width earns. */
export function temperatureFor(input, card) {
  const width = strokeWidth(input, (v) => v > INK_AT);
  return card.temperature * Math.max(1, width / card.wide_from) ** card.wide_power;
}
