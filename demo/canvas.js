// The drawing surface: gr.HTML's js_on_load (element, trigger, props, server, upload, watch).
// Strokes are kept as points, drawn smooth and round on a screen canvas at the device's pixel
// ratio, and re-drawn in black on a transparent 560x280 ink canvas. Once the browser reader
// (props.browser: demo/web/worker.js, onnxruntime-web on the reader graph) has loaded, that
// ink is read there and the answer handed to answer.js by a DOM event. Wherever it is read,
// strokes are first grouped into digits here, by where they lie (x-extents that overlap are
// one digit, as demo.numbers joins pieces; the rules come in props.facts): one group is read
// as the whole plane (alpha / 255: 0 paper, 1 ink), exactly as a single digit always was;
// several groups are a number, each group's strokes drawn alone on its own plane (its box plus
// a margin) and read by the same graph. Too many marks, or touching digits, are one sentence
// said here. Until the reader loads, if it fails, or for the int8 model, the planes are sent
// as PNGs with the custom "ink" event: {ink: data URL, n: send number} for one digit,
// {digits: [{ink, box}], n} for a number (demo.canvas checks them; the server cuts nothing).
// A blank canvas asks nobody: its answer box shows the prompt at once.
const WIDTH = 560; // the ink PNG's size, as the server checks it: room for a number across
const HEIGHT = 280;
const RADIUS = 12; // brush radius on the 280 px ink: strokes ~1/12 of a digit, like MNIST
// A stroke this long gets a first guess while it is drawn, and a fresh one at most every
// LIVE_MS until the pen lifts: twice as often when this browser reads (no server to flood).
const FIRST_GUESS_MS = { server: 120, browser: 60 };
const LIVE_MS = { server: 200, browser: 100 };
const TICK_MS = 40; // looked for this often, so a pen resting mid-stroke gets its guess too

const root = element.querySelector(".hrnn-ink");
const answerName = root.dataset.answer; // the answer box this canvas feeds
const screen = root.querySelector("canvas");
const undoButton = root.querySelector('[data-action="undo"]');
const clearButton = root.querySelector('[data-action="clear"]');
const ink = document.createElement("canvas");
ink.width = WIDTH;
ink.height = HEIGHT;
ink.getContext("2d", { willReadFrequently: true }); // its pixels are read after every stroke
const strokes = [];
let current = null; // the stroke being drawn: {id, points, started, sentPoints, key}
let strokeKeys = 0; // each stroke's own number: a digit's plane is known by its strokes
let ticker = null;
let sentAt = 0;
let sent = 0;
let answered = 0; // the highest send number whose answer is on screen
const facts = props.facts; // grouping rules and sentences (demo.answer.facts)
const browser = props.browser; // null: the server reads every drawing
let selected = browser ? browser.precision : null; // the model chosen on the page
let reader = null; // the worker that reads drawings here, once its runtime and model have loaded
root.dataset.reader = browser ? "loading" : "off";
if (browser) {
  const here = (path) => new URL(path, document.baseURI).href;
  const urls = ["runtime", "wasm", "model"].map((key) => [key, here(browser[key])]);
  const config = { ...browser, ...Object.fromEntries(urls), answer: facts };
  const worker = new Worker(here(browser.worker), { type: "module" });
  const failed = (why) => {
    const reading = reader !== null && answered < sent; // a read the worker will never answer
    reader = null;
    root.dataset.reader = "failed"; // the server keeps reading; say why in the console
    console.warn("hrnn: reading on the server, the browser reader failed:", why);
    if (reading && (strokes.length || current)) toServer(sent);
  };
  worker.onerror = (event) => failed(event.message || "the worker did not start");
  worker.onmessage = ({ data }) => {
    if (data.ready) {
      root.hrnnWorkerFiles = data.files; // what the reader downloaded (tests, the benchmark)
      reader = worker;
      root.dataset.reader = "ready";
    } else if (data.n === undefined) failed(data.failed);
    else answeredHere(data);
  };
  worker.postMessage({ open: config });
}
root.hrnnInk = () => ink.toDataURL("image/png"); // the ink as the server would get it (tests)

function fit() {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(screen.getBoundingClientRect().width * ratio) || WIDTH;
  if (screen.width !== width) {
    screen.width = width;
    screen.height = Math.round((width * HEIGHT) / WIDTH);
    paint();
  }
}

function trace(context, points, scale) {
  // Quadratic curves through the midpoints: smooth lines from sparse pointer samples.
  const [x0, y0] = points[0];
  context.beginPath();
  context.moveTo(x0 * scale, y0 * scale);
  if (points.length === 1) context.lineTo(x0 * scale + 0.01, y0 * scale);
  for (let i = 1; i < points.length - 1; i++) {
    const [x, y] = points[i];
    const [nx, ny] = points[i + 1];
    context.quadraticCurveTo(x * scale, y * scale, ((x + nx) / 2) * scale, ((y + ny) / 2) * scale);
  }
  if (points.length > 1) {
    const [x, y] = points[points.length - 1];
    context.lineTo(x * scale, y * scale);
  }
  context.stroke();
}

const drawn = () => (current ? [...strokes, current] : strokes);

function paintOn(canvas, colour, which = drawn(), offset = null) {
  // `which` strokes on a canvas the ink's size (or the screen's), or at ink scale shifted by
  // `offset` ink pixels: a digit's own plane starts at its box
  const context = canvas.getContext("2d");
  const scale = offset ? 1 : canvas.width / WIDTH;
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (offset) context.translate(-offset[0], -offset[1]);
  context.lineCap = context.lineJoin = "round";
  context.lineWidth = 2 * RADIUS * scale;
  context.strokeStyle = colour;
  for (const stroke of which) trace(context, stroke.points, scale);
}

function paint() {
  paintOn(screen, getComputedStyle(screen).color);
  undoButton.disabled = clearButton.disabled = strokes.length === 0 && !current;
  root.dataset.strokes = String(strokes.length);
}

function toServer(number) {
  // Only the ink leaves the page: black on transparent, as PNG: the whole WIDTH x HEIGHT for
  // one digit, each digit's own plane and its box for a number.
  const found = digitsOf(number);
  if (!found) return;
  root.dataset.via = "server";
  if (found.whole) props.value = { ink: ink.toDataURL("image/png"), n: number };
  else props.value = { digits: found.digits.map(({ canvas, box }) => ({ ink: canvas.toDataURL("image/png"), box })), n: number };
  trigger("ink");
}

function plane(canvas) {
  // A canvas' ink plane exactly as the server makes it from the PNG: alpha / 255, row-major.
  const { width, height } = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const values = new Float32Array(width * height);
  for (let i = 0; i < values.length; i++) values[i] = rgba[4 * i + 3] / 255;
  return { ink: values, width, height };
}

function extent(stroke) {
  // [x0, y0, x1, y1] of a stroke's ink, the brush's radius included
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of stroke.points) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return [x0 - RADIUS, y0 - RADIUS, x1 + RADIUS, y1 + RADIUS];
}

function digitGroups(all, rules) {
  // Strokes -> digits, left to right: strokes whose x-extents overlap across `overlap` of the
  // narrower are one digit (a 4's two strokes, a 5's flag), joined until nothing joins; a
  // group smaller than `speck` of the tallest is dropped. Null: too many strokes or digits.
  if (all.length > rules.max_strokes) return null;
  let groups = all.map((stroke) => ({ strokes: [stroke], box: extent(stroke) }));
  for (let joined = true; joined && groups.length > 1; ) {
    joined = false;
    groups.sort((a, b) => a.box[0] - b.box[0]);
    const next = [groups[0]];
    for (const group of groups.slice(1)) {
      const last = next[next.length - 1];
      const [a, b] = [last.box, group.box];
      const overlap = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
      if (overlap >= rules.overlap * Math.min(a[2] - a[0], b[2] - b[0])) {
        last.strokes.push(...group.strokes);
        last.box = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
        joined = true;
      } else next.push(group);
    }
    groups = next;
  }
  const tallest = Math.max(...groups.map(({ box }) => box[3] - box[1]));
  groups = groups.filter(({ box }) => Math.max(box[2] - box[0], box[3] - box[1]) >= rules.speck * tallest);
  return groups.length > rules.max_digits ? null : groups;
}

function digitCanvas({ strokes: own, box }, rules) {
  // One digit's strokes alone, on a canvas of its box plus a margin; its box in ink pixels;
  // its key (which strokes, how many points each) lets the worker reuse an unchanged
  // digit's reading while the next one is written
  const [x0, y0, x1, y1] = box.map(Math.round);
  const margin = 1 + Math.round(rules.margin * Math.max(x1 - x0, y1 - y0));
  const canvas = document.createElement("canvas");
  canvas.width = x1 - x0 + 2 * margin;
  canvas.height = y1 - y0 + 2 * margin;
  paintOn(canvas, "#000", own, [x0 - margin, y0 - margin]);
  const key = own.map((stroke) => `${stroke.key}.${stroke.points.length}`).join(",");
  return { canvas, box: [x0, y0, x1 - x0, y1 - y0], key };
}

function digitsOf(number) {
  // What the ink holds: {whole: true} for one digit (beside it at most fragments shorter than
  // half of it: read as the whole plane, as a single digit always was), or {digits} for a
  // number (two or more groups of a digit's height, as demo.reading.is_number). Too many
  // marks, or a digit wider than `wide` times its height among several: one sentence, said
  // here without reading anything (then null).
  const rules = facts.grouping;
  const groups = digitGroups(drawn(), rules);
  root.dataset.digits = groups ? String(groups.length) : "";
  const said = (message, extra = {}) => {
    answeredHere({ n: number, answer: { state: "error", message, for: number, ...extra } });
    return null;
  };
  if (groups === null) return said(facts.sentences.too_many);
  const tallest = Math.max(0, ...groups.map(({ box }) => box[3] - box[1]));
  const full = groups.filter(({ box }) => box[3] - box[1] >= rules.fragment * tallest);
  if (full.length < 2) return { whole: true };
  const wide = groups.filter(({ box }) => box[2] - box[0] > rules.wide * (box[3] - box[1]));
  if (wide.length) {
    const touching = wide.map(({ box }) => [box[0], box[1], box[2] - box[0], box[3] - box[1]].map(Math.round));
    return said(facts.sentences.touching, { touching });
  }
  return { digits: groups.map((group) => digitCanvas(group, rules)) };
}

function readHere(number) {
  // The same planes the server would get, read by the worker: zero requests.
  root.dataset.via = "browser";
  const found = digitsOf(number);
  if (!found) return;
  const planes = found.whole ? [plane(ink)] : found.digits.map(({ canvas, box, key }) => ({ ...plane(canvas), box, key }));
  reader.postMessage({ planes, n: number }, planes.map((p) => p.ink.buffer));
}

function answeredHere({ n, answer, failed }) {
  // The worker's answer. Ink whose read failed goes to the server, if no newer ink has been
  // sent since: that one is answered on its own.
  if (answer) {
    document.dispatchEvent(new CustomEvent("hrnn-answer", { detail: { answer: answerName, value: answer } }));
    return;
  }
  if (failed) console.warn("hrnn: the browser reader failed; this ink goes to the server:", failed);
  if (n === sent) toServer(n);
}

const readsHere = () => reader !== null && selected === browser.precision;

function send(final) {
  // Read the ink here when the reader has the chosen model, else on the server. A guess while
  // drawing waits until the previous one is answered; the final ink always goes. True if sent.
  if (!final && answered < sent) return false;
  const empty = strokes.length === 0 && !current;
  if (!empty) paintOn(ink, "#000");
  sent += 1;
  sentAt = performance.now();
  root.dataset.sent = String(sent);
  if (!empty) {
    if (readsHere()) readHere(sent);
    else toServer(sent);
    return true;
  }
  props.value = { ink: "", n: sent };
  answered = sent;
  const detail = { answer: answerName, n: sent };
  document.dispatchEvent(new CustomEvent("hrnn-cleared", { detail }));
  return true;
}

document.addEventListener("hrnn-model", (event) => {
  // A new model re-reads the ink on the canvas, so no answer names the old model.
  selected = event.detail;
  if (strokes.length && !current) send(true);
});

document.addEventListener("hrnn-answered", (event) => {
  if (event.detail.answer === answerName) answered = Math.max(answered, event.detail.n);
});

function at(event) {
  const box = screen.getBoundingClientRect();
  return [((event.clientX - box.left) / box.width) * WIDTH, ((event.clientY - box.top) / box.height) * HEIGHT];
}

function liveGuess() {
  // While the pen is down: a guess once the stroke is FIRST_GUESS_MS old, then every LIVE_MS,
  // and only when there is new ink since the last one (a resting pen costs nothing).
  const now = performance.now();
  const where = readsHere() ? "browser" : "server";
  if (!current || now - current.started < FIRST_GUESS_MS[where] || now - sentAt < LIVE_MS[where]) return;
  const points = current.points.length;
  if (points !== current.sentPoints && send(false)) current.sentPoints = points;
}

screen.addEventListener("pointerdown", (event) => {
  if (current || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  screen.setPointerCapture(event.pointerId);
  const [id, started, key] = [event.pointerId, performance.now(), (strokeKeys += 1)];
  current = { id, points: [at(event)], started, sentPoints: 0, key };
  paint();
  clearInterval(ticker);
  ticker = setInterval(liveGuess, TICK_MS);
});

screen.addEventListener("pointermove", (event) => {
  if (!current || event.pointerId !== current.id) return;
  const samples = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const sample of samples.length ? samples : [event]) current.points.push(at(sample));
  paint();
  liveGuess();
});

function finish(event) {
  if (!current || event.pointerId !== current.id) return;
  clearInterval(ticker);
  ticker = null;
  strokes.push(current);
  current = null;
  paint();
  send(true); // the final ink always goes, so the answer settles on what was drawn
}
screen.addEventListener("pointerup", finish);
screen.addEventListener("pointercancel", finish);

function undo() {
  if (current || !strokes.length) return;
  strokes.pop();
  paint();
  send(true);
}

function clear() {
  if (current) return;
  strokes.length = 0;
  paint();
  send(true);
}

undoButton.addEventListener("click", undo);
clearButton.addEventListener("click", clear);
document.addEventListener("keydown", (event) => {
  // Ctrl+Z (Cmd+Z) undoes a stroke while the canvas is on screen and no text field has focus.
  const typing = event.target.closest && event.target.closest("input, textarea, [contenteditable]");
  const combo = (event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey;
  if (!combo || event.key.toLowerCase() !== "z" || typing) return;
  if (!root.offsetParent) return;
  event.preventDefault();
  undo();
});
new ResizeObserver(fit).observe(screen);
fit();
paint();
