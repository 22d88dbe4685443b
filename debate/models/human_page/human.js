// The human-judge page: shows the request the server is waiting on, sends the answer back.
// Everything from the server is set with textContent: model output is never read as HTML.
"use strict";

const KEY = document.querySelector('meta[name="debate-key"]').content;
const $ = (id) => document.getElementById(id);
const MARK = /<(v|u)_quote>([\s\S]*?)<\/\1_quote>/g;
const HEADINGS = { system: "Instructions to the judge", user: "Shown to the judge", assistant: "The judge's earlier reply" };
let current = null;
let picked = null;

function appendMarked(parent, text) {
  let last = 0;
  for (const match of text.matchAll(MARK)) {
    parent.append(document.createTextNode(text.slice(last, match.index)));
    const span = document.createElement("span");
    span.className = match[1] === "v" ? "q-v" : "q-u";
    span.title = match[1] === "v" ? "verified quote" : "unverified quote";
    span.textContent = match[2];
    parent.append(span);
    last = match.index + match[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

function answerText(label, messages) {
  const pattern = new RegExp("^\\s*" + label + "\\s*[:.)]\\s*(.+)$", "m");
  for (const message of messages) {
    const found = pattern.exec(message.content);
    if (found) return found[1].replace(MARK, "$2");
  }
  return "";
}

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderMessages(messages) {
  const box = $("messages");
  box.replaceChildren();
  for (const message of messages) {
    const block = el("div", "msg " + message.role);
    block.append(el("h3", "", HEADINGS[message.role] || message.role));
    const body = el("pre", "text");
    appendMarked(body, message.content);
    block.append(body);
    box.append(block);
  }
}

function choose(label) {
  picked = label;
  for (const node of document.querySelectorAll("#pick-choices .choice")) {
    node.classList.toggle("selected", node.dataset.label === label);
    node.querySelector("input").checked = node.dataset.label === label;
  }
}

function renderVerdictForm(request) {
  picked = null;
  const pick = $("pick-choices");
  const probs = $("prob-inputs");
  pick.replaceChildren();
  probs.replaceChildren();
  const even = Math.round(100 / request.choices.length);
  for (const label of request.choices) {
    const text = answerText(label, request.messages);
    const row = el("label", "choice");
    row.dataset.label = label;
    row.id = "choice-" + label;
    const radio = el("input");
    radio.type = "radio";
    radio.name = "picked";
    radio.value = label;
    radio.addEventListener("change", () => choose(label));
    row.append(radio, el("span", "label", label), el("span", "answer", text));
    pick.append(row);
    const prow = el("label", "choice");
    const number = el("input");
    number.type = "number"; number.min = "0"; number.max = "100"; number.step = "1";
    number.value = String(even);
    number.id = "prob-" + label;
    number.dataset.label = label;
    number.addEventListener("input", updateSum);
    prow.append(el("span", "label", label), number, el("span", "", "%"), el("span", "answer", text));
    probs.append(prow);
  }
  $("reason").value = "";
  updateSum();
  $("verdict-form").hidden = false;
  $("text-form").hidden = true;
}

function updateSum() {
  let sum = 0;
  for (const input of document.querySelectorAll("#prob-inputs input")) sum += Number(input.value) || 0;
  $("prob-sum").textContent = String(sum);
}

function verdictProbabilities(request) {
  if ($("mode-probs").checked) {
    return [...document.querySelectorAll("#prob-inputs input")].map((input) => Number(input.value));
  }
  if (picked === null) throw new Error("Pick an answer first.");
  const confidence = Number($("confidence").value) / 100;
  const n = request.choices.length;
  return request.choices.map((label) => (label === picked ? confidence : (1 - confidence) / (n - 1)));
}

function show(state) {
  const who = state.waiting === 1 ? "1 request waiting" : state.waiting + " requests waiting";
  $("progress").textContent = state.answered + " answered · " + who;
  const request = state.request;
  if (!request) {
    current = null;
    $("request").hidden = true;
    $("waiting").hidden = false;
    $("waiting").textContent = state.closed
      ? "The run has finished. Every answer you submitted is saved; you can close this page."
      : state.continuing
        ? "Waiting for the reply in this debate…"
        : "Waiting for the next request…";
    return;
  }
  $("waiting").hidden = true;
  if (current && current.id === request.id) return;
  current = request;
  renderMessages(request.messages);
  if (request.kind === "verdict") {
    renderVerdictForm(request);
  } else {
    $("text-answer").value = "";
    $("verdict-form").hidden = true;
    $("text-form").hidden = false;
  }
  $("request").hidden = false;
  document.body.dataset.request = String(request.id);
  window.scrollTo(0, 0);
}

async function api(path, body) {
  const options = { headers: { "X-Debate-Key": KEY } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || "the server said " + response.status);
  return data;
}

async function poll() {
  for (;;) {
    try {
      const state = await api("/api/next");
      show(state);
      if (state.closed) return;
    } catch (error) {
      $("waiting").hidden = false;
      $("request").hidden = true;
      $("waiting").textContent = "The server is not answering (has the run ended?). Submitted answers are saved.";
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
}

async function submit(body, button) {
  button.disabled = true;
  try {
    const result = await api("/api/answer", { id: current.id, ...body });
    setStatus("Saved (" + result.seconds.toFixed(1) + " s on this request).");
    current = null;
    $("request").hidden = true;
    $("waiting").hidden = false;
    $("waiting").textContent = "Waiting for the next request…";
  } catch (error) {
    setStatus("Not saved: " + error.message, true);
  } finally {
    button.disabled = false;
  }
}

$("verdict-form").addEventListener("submit", (event) => {
  event.preventDefault();
  let probs;
  try { probs = verdictProbabilities(current); } catch (error) { setStatus(error.message, true); return; }
  submit({ probs, reason: $("reason").value }, $("submit-verdict"));
});
$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text-answer").value.trim();
  if (!text) { setStatus("Write something first.", true); return; }
  submit({ text }, $("submit-text"));
});
for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => {
    $("pick-panel").hidden = !$("mode-pick").checked;
    $("probs-panel").hidden = $("mode-pick").checked;
  });
}
$("confidence").addEventListener("input", () => { $("confidence-value").textContent = $("confidence").value + "%"; });
poll();
