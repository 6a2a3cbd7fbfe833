// The answer object for one drawing read in the browser, as demo.answer.shown makes it on the
// server, from the reader graph's outputs alone: the graph already cropped, centred and
// calibrated, so nothing here computes a probability. The words are demo.answer's SENTENCES,
// sent in the page's config (`facts`): one copy of the wording for both roads.

const rank = (p) => [...p.keys()].sort((a, b) => p[b] - p[a] || a - b); // stable, as argsort
const argmax = (values) => values.reduce((best, v, k) => (v > values[best] ? k : best), 0);
const rounded = (v, places) => Number(v.toFixed(places));
const byte = (v) => {
  const x = Math.min(Math.max(v, 0), 255); // np.rint: halves to even
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 ? r - 1 : r;
};
const grid = (values) => btoa(String.fromCharCode(...Array.from(values, byte)));

/** facts.sentences filled in from fields, as demo.answer.sentence does ("number_": a number). */
export function sentence(sentences, fields, kind = "") {
  const text = sentences[kind + (fields.sure ? "sure" : "unsure")].replace(/\{(\w+)\}/g, (_, k) => fields[k]);
  return fields.approximate ? text.slice(0, -1) + sentences.approximate : text;
}

/** Each digit's outputs (batches of one) and box -> the number's answer object, as
 * demo.answer.shown_number makes it: its record (docs/numbers.md) and the sentence. */
export function shownNumber(outputsList, boxes, facts, number) {
  const names = facts.classes;
  const digits = [];
  outputsList.forEach((outputs, k) => {
    if (outputs.ink_found && !Number(outputs.ink_found.data[0])) return; // nothing to read
    const p = Array.from(outputs.probabilities.data.subarray(0, names.length));
    const [best, second] = rank(p);
    digits.push({
      label: names[best],
      confidence: rounded(p[best], facts.decimals),
      sure: p[best] >= facts.sure_at,
      runner_up: names[second],
      box: boxes[k],
      p: p[best],
    });
  });
  const confidence = digits.reduce((product, d) => product * d.p, 1);
  const fields = {
    number: digits.map((d) => d.label).join(""),
    percent: `${Math.floor(100 * confidence)}%`,
    model: facts.model,
    sure: digits.every((d) => d.sure),
    approximate: facts.approximate,
  };
  return {
    state: "reading",
    message: sentence(facts.sentences, fields, "number_"),
    for: number,
    number: fields.number,
    confidence: rounded(confidence, facts.decimals),
    sure: fields.sure,
    digits: digits.map(({ p, ...digit }) => digit),
    model: facts.model,
  };
}

/** The graph's outputs for one ink (batch of one) -> the answer object the page shows. */
export function shown(outputs, facts, number) {
  const found = outputs.ink_found;
  if (found && !Number(found.data[0])) return { state: "empty", message: facts.blank, for: number };
  const names = facts.classes;
  const classes = names.length;
  const p = Array.from(outputs.probabilities.data.subarray(0, classes));
  const rowData = outputs.row_probabilities.data;
  const rows = rowData.length / classes;
  const ranked = rank(p);
  const [best, second] = ranked;
  let settled = 1; // the first row from which the running top class stays the answer
  for (let r = 0; r < rows; r++)
    if (argmax(rowData.subarray(r * classes, (r + 1) * classes)) !== best) settled = r + 2;
  const fields = {
    label: names[best],
    runner_up: names[second],
    percent: `${Math.floor(100 * p[best])}%`, // floored: 99.7% is never "100%"
    settled_row: settled,
    rows,
    model: facts.model,
    sure: p[best] >= facts.sure_at,
    approximate: facts.approximate,
  };
  return {
    state: "reading",
    message: sentence(facts.sentences, fields),
    for: number,
    label: fields.label,
    confidence: rounded(p[best], facts.decimals),
    sure: fields.sure,
    probabilities: Object.fromEntries(names.map((name, k) => [name, rounded(p[k], facts.decimals)])),
    runner_up: fields.runner_up,
    model: facts.model,
    settled_row: settled,
    classes: [...names],
    top: ranked.slice(0, facts.top).map((k) => [names[k], rounded(p[k], 4)]),
    pixels: grid(outputs.image.data),
    rows: grid(Array.from(rowData, (v) => Math.fround(v * 255))),
    rows_shape: [rows, classes],
  };
}
