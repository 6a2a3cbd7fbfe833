// The answer: gr.HTML's js_on_load. The server sends numbers (top classes, the 28x28 the model
// saw, its belief after each row); the pictures are drawn here instead of as PNG files. A number
// (an answer with "number") shows the number and, under it, each digit with its own
// confidence; a digit the reader is not sure of is marked and its runner-up shown.
// Text goes in through textContent only, so nothing the server says is parsed as HTML.
const ROW_PX = 6; // heatmap cell height per image row (the seen image is scaled to match)
const CELL_PX = 14; // heatmap cell width per class
// Dark blue -> teal -> yellow: viridis' anchors, as a perceptually ordered ramp.
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

const box = element.querySelector(".hrnn-answer");
const part = (name) => box.querySelector(`.hrnn-${name}`);
const name = box.dataset.name; // canvases that feed this box address it by this name
const prompt = props.value && props.value.message; // the empty state's sentence

function colour(p) {
  const pos = Math.min(Math.max(Number(p) || 0, 0), 1) * (RAMP.length - 1);
  const low = Math.min(Math.floor(pos), RAMP.length - 2);
  const f = pos - low;
  return RAMP[low].map((c, k) => Math.round(c * (1 - f) + RAMP[low + 1][k] * f));
}

const bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

function drawSeen(pixels) {
  // pixels: base64 of a square of uint8, row-major, white ink on black
  const values = bytes(pixels);
  const canvas = part("seen");
  const size = Math.round(Math.sqrt(values.length));
  canvas.width = canvas.height = size;
  const image = canvas.getContext("2d").createImageData(size, size);
  values.forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function drawBelief(rows, [height, width], classes, best) {
  // rows: base64 of (height, width) uint8, belief x 255 after each row read
  const values = bytes(rows);
  const canvas = part("belief");
  canvas.width = width * CELL_PX;
  canvas.height = height * ROW_PX;
  const context = canvas.getContext("2d");
  values.forEach((v, i) => {
    context.fillStyle = `rgb(${colour(v / 255).join(",")})`;
    context.fillRect((i % width) * CELL_PX, Math.floor(i / width) * ROW_PX, CELL_PX, ROW_PX);
  });
  context.strokeStyle = "#dc2828";
  context.lineWidth = 2;
  context.strokeRect(best * CELL_PX + 1, 1, CELL_PX - 2, canvas.height - 2);
  part("classes").replaceChildren(
    ...classes.map((name) => Object.assign(document.createElement("span"), { textContent: name })),
  );
}

function digitCell(digit) {
  // one digit of a number: the digit, its own confidence under it, its runner-up if unsure
  const item = document.createElement("li");
  item.dataset.sure = String(Boolean(digit.sure));
  item.append(
    Object.assign(document.createElement("b"), { textContent: digit.label }),
    Object.assign(document.createElement("span"), {
      textContent: `${Math.floor(100 * digit.confidence)}%`,
    }),
  );
  if (!digit.sure) {
    item.title = `Not sure: maybe ${digit.label}, or ${digit.runner_up}`;
    item.append(Object.assign(document.createElement("i"), { textContent: `or ${digit.runner_up}` }));
  }
  return item;
}

let shownFor = -1; // the send number on screen: an answer to older ink (before a Clear, or
// overtaken by a newer read) is stale

function render(value) {
  const answer = value && typeof value === "object" ? value : { state: "empty", message: "" };
  if (answer.for != null && answer.for < shownFor) return;
  if (answer.for != null) shownFor = answer.for;
  box.hrnnAnswer = answer; // the last answer shown, as an object (tests compare it)
  box.dataset.state = answer.state || "empty";
  box.dataset.for = answer.for == null ? "" : String(answer.for);
  part("message").textContent = answer.message || "";
  const reading = answer.state === "reading";
  const number = reading && typeof answer.number === "string";
  box.dataset.kind = number ? "number" : reading ? "digit" : "";
  box.dataset.sure = reading ? String(Boolean(answer.sure)) : "";
  part("digit").textContent = number ? answer.number : reading ? (answer.sure ? answer.label : "?") : "";
  part("sure").textContent = !reading
    ? ""
    : answer.sure
      ? `${Math.floor(100 * answer.confidence)}% sure` // floored: 99.7% is never "100% sure"
      : number
        ? "Not sure of the marked digits"
        : `Not sure: maybe ${answer.label}, or ${answer.runner_up}`;
  part("digits").replaceChildren(...(number ? answer.digits : []).map(digitCell));
  part("top").replaceChildren(
    ...(reading ? answer.top : []).map(([name, p]) => {
      const item = document.createElement("li");
      const bar = Object.assign(document.createElement("span"), { className: "hrnn-bar" });
      bar.style.width = `${Math.round(100 * p)}%`;
      item.append(
        Object.assign(document.createElement("b"), { textContent: name }),
        bar,
        Object.assign(document.createElement("span"), { textContent: `${(100 * p).toFixed(1)}%` }),
      );
      return item;
    }),
  );
  if (reading && !number) {
    drawSeen(answer.pixels);
    drawBelief(answer.rows, answer.rows_shape, answer.classes, answer.classes.indexOf(answer.label));
  }
}

function rendered(answer) {
  if (answer && answer.for != null) {
    const detail = { answer: name, n: answer.for };
    document.dispatchEvent(new CustomEvent("hrnn-answered", { detail }));
  }
}

document.addEventListener("hrnn-answer", (event) => {
  // an answer the browser read itself (canvas.js), the same object the server would send
  if (event.detail.answer !== name) return;
  render(event.detail.value);
  rendered(event.detail.value);
});
document.addEventListener("hrnn-cleared", (event) => {
  if (event.detail.answer !== name) return;
  render({ state: "empty", message: prompt, for: event.detail.n });
});
watch("value", () => {
  render(props.value);
  rendered(props.value);
});
render(props.value);
