// debate-lab viewer: unit list with filters, unit pages, run summaries, several runs side by side.
// The same script runs served (data from api/data) and exported (data embedded in the file).
// Every piece of run data is set as text (textContent, attributes): none is parsed as HTML.
"use strict";

const LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PAGE = 500;  // unit rows drawn before "show all"
const MARK = /<(v|u)_quote>([\s\S]*?)<\/\1_quote>/g;
const embedded = document.getElementById("debate-data");
const needsToken = document.querySelector('meta[name="debate-token"]')?.content === "token";
const app = document.getElementById("app");
let DATA = null;
let UNITS = [];
let timer = null;
const filters = { protocol: "", scenario: "", outcome: "", text: "" };

// ----- small DOM helpers --------------------------------------------------------------------

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

function fmt(value, digits = 3) {
  return typeof value === "number" ? (Number.isInteger(value) ? String(value) : value.toFixed(digits)) : String(value);
}

function markedText(text) {
  // the judge's prompt: <v_quote>/<u_quote> are the engine's own markers (speakers cannot forge them)
  const out = h("pre", { className: "text" });
  let last = 0;
  for (const match of String(text).matchAll(MARK)) {
    out.append(text.slice(last, match.index));
    out.append(h("span", { className: match[1] === "v" ? "q-v" : "q-u", title: match[1] === "v" ? "verified quote" : "unverified quote", text: match[2] }));
    last = match.index + match[0].length;
  }
  out.append(String(text).slice(last));
  return out;
}

function quotedText(message) {
  // a speech with its checked quotes marked, from the offsets the engine stored
  const text = String(message.text ?? "");
  const out = h("div", { className: "text" });
  const quotes = Array.isArray(message.quotes) ? [...message.quotes].sort((a, b) => a.start - b.start) : [];
  let cursor = 0;
  for (const quote of quotes) {
    if (!(Number.isInteger(quote.start) && Number.isInteger(quote.end)) || quote.start < cursor || quote.end > text.length) continue;
    out.append(text.slice(cursor, quote.start));
    const verified = quote.verified === true;
    out.append(h("span", { className: verified ? "q-v" : "q-u", title: (verified ? "verified quote" : "unverified quote") + (quote.score !== undefined ? " · score " + fmt(quote.score, 2) : ""), text: quote.text }));
    cursor = quote.end;
  }
  out.append(text.slice(cursor));
  return out;
}

// ----- data ---------------------------------------------------------------------------------

function token() { return sessionStorage.getItem("debate-token") || ""; }

function withToken(src) {
  return needsToken && src.startsWith("api/") ? src + "&token=" + encodeURIComponent(token()) : src;
}

async function load() {
  if (embedded) return JSON.parse(embedded.textContent);
  const response = await fetch("api/data", { headers: needsToken ? { "X-Debate-Token": token() } : {} });
  if (response.status === 401) throw new Error("token");
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || "the server said " + response.status);
  return body;
}

function unitKey(record) { return String(record.source_unit || record.id); }

function index(data) {
  const units = new Map();
  data.runs.forEach((run, runIndex) => {
    for (const record of run.records) {
      const key = unitKey(record);
      if (!units.has(key)) units.set(key, { key, entries: [] });
      units.get(key).entries.push({ run: runIndex, record });
    }
    for (const failure of run.failures) {
      const key = String(failure.id);
      if (!units.has(key)) units.set(key, { key, entries: [] });
      units.get(key).entries.push({ run: runIndex, failure });
    }
  });
  return [...units.values()];
}

function outcome(entry) {
  if (entry.failure) return "failed";
  const record = entry.record;
  const final = record.final_verdict;
  if (final && final.valid === false) return "invalid";
  if (record.correct === true) return "correct";
  if (record.correct === false) return "wrong";
  return "none";
}

function first(unit) { return unit.entries.find((e) => e.record)?.record || unit.entries[0].failure; }

function searchable(unit) {
  if (unit.search === undefined) {
    const parts = [];
    for (const entry of unit.entries) {
      const r = entry.record || entry.failure;
      parts.push(r.id, r.question || "", ...(r.answers || []), entry.failure ? entry.failure.error : "");
      for (const m of (entry.record?.messages || [])) parts.push(m.text || "");
    }
    unit.search = parts.join("\n").toLowerCase();
  }
  return unit.search;
}

// ----- the unit list --------------------------------------------------------------------------

function resultCell(entry) {
  if (!entry) return h("td", { className: "muted", text: "·" });
  const kind = outcome(entry);
  const final = entry.record?.final_verdict;
  const p = final && final.valid && Array.isArray(final.probs) && final.chosen !== null && final.chosen !== undefined ? final.probs[final.chosen] : null;
  const text = { correct: "✓ correct", wrong: "✗ wrong", invalid: "invalid", failed: "failed", none: "—" }[kind];
  return h("td", { className: "result " + kind, title: final ? "method: " + final.method : "" }, text, p !== null ? h("small", { text: " " + LABELS[final.chosen] + " " + fmt(p, 2) }) : null);
}

function matches(unit) {
  const record = first(unit);
  const protocol = record.protocol || String(record.id).split("/")[0];
  if (filters.protocol && protocol !== filters.protocol) return false;
  if (filters.scenario && !String(record.scenario_id || "").toLowerCase().includes(filters.scenario.toLowerCase())) return false;
  if (filters.outcome && !unit.entries.some((e) => outcome(e) === filters.outcome)) return false;
  if (filters.text && !searchable(unit).includes(filters.text.toLowerCase())) return false;
  return true;
}

function renderList() {
  const protocols = [...new Set(UNITS.map((u) => first(u).protocol || String(first(u).id).split("/")[0]))].sort();
  const rows = h("tbody");
  const counter = h("span", { className: "muted" });
  let limit = PAGE;
  const more = h("button", { id: "more", type: "button", onclick: () => { limit = Infinity; fill(); } });
  const fill = () => {
    rows.replaceChildren();
    let shown = 0;
    for (const unit of UNITS) {
      if (!matches(unit)) continue;
      shown += 1;
      if (shown > limit) continue;  // counted, not drawn: a long list stays quick
      const record = first(unit);
      const byRun = DATA.runs.map((_, i) => unit.entries.find((e) => e.run === i));
      rows.append(h("tr", { className: "unit-row", dataset: { unit: unit.key }, onclick: () => { location.hash = "#/unit/" + encodeURIComponent(unit.key); } },
        h("td", {}, h("a", { href: "#/unit/" + encodeURIComponent(unit.key), text: unit.key })),
        h("td", { text: record.protocol || "" }),
        h("td", { className: "question", text: record.question || record.error || "" }),
        byRun.map(resultCell)));
    }
    counter.textContent = shown + " of " + UNITS.length + " units";
    more.hidden = shown <= limit;
    more.textContent = "show all " + shown;
  };
  const select = (name, options) => h("select", { id: "filter-" + name, onchange: (e) => { filters[name] = e.target.value; fill(); } },
    options.map(([value, label]) => { const o = h("option", { value, text: label }); if (filters[name] === value) o.selected = true; return o; }));
  const text = (name, placeholder) => h("input", { id: "filter-" + name, type: "search", placeholder, value: filters[name], oninput: (e) => { filters[name] = e.target.value; fill(); } });
  app.replaceChildren(
    h("section", { className: "filters" },
      h("label", {}, "protocol ", select("protocol", [["", "all"], ...protocols.map((p) => [p, p])])),
      h("label", {}, "scenario ", text("scenario", "id contains…")),
      h("label", {}, "outcome ", select("outcome", [["", "any"], ["correct", "judge correct"], ["wrong", "judge wrong"], ["invalid", "invalid verdict"], ["failed", "failed"], ["none", "no verdict"]])),
      h("label", {}, "search ", text("text", "question, answers, turns…")),
      counter),
    h("table", { className: "units" },
      h("thead", {}, h("tr", {}, h("th", { text: "unit" }), h("th", { text: "protocol" }), h("th", { text: "question" }),
        DATA.runs.map((run, i) => h("th", {}, h("a", { href: "#/run/" + i, text: run.name, title: judgeOf(run) }))))),
      rows),
    more);
  fill();
}

function judgeOf(run) {
  const models = run.spec?.models || {};
  return Object.entries(models).map(([role, model]) => role + "=" + model).join(", ");
}

// ----- one unit -----------------------------------------------------------------------------

function fill(p) {
  // set through the CSSOM: the content security policy forbids style attributes
  const node = h("span", { className: "bar-fill" });
  node.style.width = Math.max(0, Math.min(100, p * 100)).toFixed(1) + "%";
  return node;
}

function bars(probs, answers, correct) {
  const box = h("div", { className: "bars" });
  probs.forEach((p, i) => {
    box.append(h("div", { className: "bar-row" + (i === correct ? " correct" : "") },
      h("span", { className: "bar-label", text: LABELS[i] }),
      h("span", { className: "bar" }, fill(p)),
      h("span", { className: "bar-value", text: fmt(p, 2) }),
      h("span", { className: "bar-answer", text: (answers[i] || "") + (i === correct ? " ✓" : "") })));
  });
  return box;
}

function promptOf(record, call) {
  const prompts = record.prompts;
  const stored = prompts?.calls?.[call];
  if (!stored) return null;
  return stored.messages.map(([role, ids]) => ({ role, content: ids.map((i) => prompts.parts[i]).join("\n\n") }));
}

function panelBlock(panel, answers) {
  // a judge panel keeps every member's verdict next to its own
  if (!panel || !Array.isArray(panel.members)) return null;
  return h("div", { className: "panel" },
    h("p", { className: "muted", text: "panel: " + panel.aggregate + " of " + panel.n_valid + " valid / " + panel.n_members + " members" + (panel.tie ? " · tie (counted wrong)" : "") }),
    table(["member", "model", "method", "verdict"], panel.members.map((m) => [m.label || "", m.model || "", m.method || "",
      m.valid && Array.isArray(m.probs) ? bars(m.probs, answers, null) : "invalid"])));
}

function calibrationText(verdict) {
  const c = verdict.calibration;
  const list = (ps) => (ps || []).map((p, i) => LABELS[i] + " " + fmt(p, 2)).join(" / ");
  const other = c.method === "both-orders"
    ? "read with the answers reversed " + list(c.reversed_probs)
    : "content-free prior " + list(c.prior);
  return "corrected (" + c.method + "): as read " + list(verdict.raw_probs) + "; " + other;
}

function verdictBlock(record, verdict) {
  const answers = record.answers || [];
  const head = [verdict.role, "round " + verdict.round, verdict.final ? "final" : "intermediate", "method: " + verdict.method,
    verdict.valid ? "valid" : "INVALID", "attempts " + verdict.attempts].join(" · ");
  const meta = verdict.meta || {};
  const block = h("div", { className: "verdict" + (verdict.valid ? "" : " invalid") },
    h("div", { className: "verdict-head", text: head }),
    verdict.valid && Array.isArray(verdict.probs) ? bars(verdict.probs, answers, verdict.final ? record.correct_index : null) : null,
    verdict.calibration ? h("p", { className: "muted calibration", text: calibrationText(verdict) }) : null,
    meta.annotator ? h("p", { className: "muted", text: "annotator " + meta.annotator + (meta.seconds !== undefined ? " · " + fmt(meta.seconds, 1) + " s" : "") }) : null,
    verdict.raw ? h("details", {}, h("summary", { text: verdict.method === "human" ? "reason given" : "raw reply" }), h("pre", { className: "text", text: verdict.raw })) : null,
    panelBlock(verdict.panel, answers));
  for (const call of verdict.shown || []) {
    const messages = promptOf(record, call);
    if (!messages) continue;
    block.append(h("details", { className: "prompt" }, h("summary", { text: "the judge's exact prompt" }),
      messages.map((m) => h("div", { className: "msg " + m.role }, h("div", { className: "msg-role", text: m.role }), markedText(m.content)))));
  }
  return block;
}

function messageBlock(message) {
  const kind = message.kind && message.kind !== "speech" ? " · " + message.kind : "";
  const hidden = Array.isArray(message.visible_to);
  const seen = hidden ? (message.visible_to.length ? " · seen by " + message.visible_to.join(", ") : " · shown to no role") : "";
  const meta = message.meta || {};
  const extra = meta.check !== undefined ? " · " + meta.check + ": " + (meta.answer === true ? "yes" : meta.answer === false ? "no" : "unreadable") : "";
  return h("div", { className: "msg turn kind-" + (message.kind || "speech") },
    h("div", { className: "msg-role", text: (message.speaker || message.role) + " · round " + message.round + kind + extra + seen }),
    quotedText(message));
}

function transcript(record) {
  const messages = record.messages || [];
  const speechRoles = [...new Set(messages.filter((m) => (m.kind || "speech") === "speech").map((m) => m.role))];
  const defends = record.defends || {};
  const sideBySide = speechRoles.length === 2 && speechRoles.every((r) => defends[r] !== null && defends[r] !== undefined);
  if (!sideBySide) return h("div", { className: "turns" }, messages.map(messageBlock));
  const rounds = [...new Set(messages.map((m) => m.round))].sort((a, b) => a - b);
  const grid = h("div", { className: "turns side-by-side" },
    speechRoles.map((role) => h("div", { className: "column-head", text: (messages.find((m) => m.role === role)?.speaker || role) + " · defends " + LABELS[defends[role]] })));
  for (const round of rounds) {
    const inRound = messages.filter((m) => m.round === round);
    for (const role of speechRoles) grid.append(h("div", { className: "cell" }, inRound.filter((m) => m.role === role && (m.kind || "speech") === "speech").map(messageBlock)));
    const others = inRound.filter((m) => !(speechRoles.includes(m.role) && (m.kind || "speech") === "speech"));
    if (others.length) grid.append(h("div", { className: "full" }, others.map(messageBlock)));
  }
  return grid;
}

function table(head, rows) {
  return h("table", { className: "small" }, h("thead", {}, h("tr", {}, head.map((c) => h("th", { text: c })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node ? h("td", {}, c) : h("td", { text: c ?? "" })))))));
}

function votesSection(state) {
  const votes = state.votes;
  if (!Array.isArray(votes) || !votes.length) return null;
  const agents = [...new Set(votes.flatMap((v) => Object.keys(v.answers || {})))];
  const mark = (a) => (a ? (a.correct === true ? "✓ " : a.correct === false ? "✗ " : "") + (a.answer ?? "(none)") : "");
  return h("section", { className: "protocol-view votes" }, h("h3", { text: "Answers per round" }),
    table(["round", ...agents, "winner", "agreement", "status"], votes.map((v) => [String(v.round), ...agents.map((a) => mark(v.answers?.[a])), v.winner ?? "—", v.agreement !== undefined ? fmt(v.agreement, 2) : "", v.status || ""])),
    state.final_answer ? h("p", { text: "final answer: " + (state.final_answer.answer ?? "(none)") + (state.final_answer.correct === true ? " ✓ correct" : state.final_answer.correct === false ? " ✗ wrong" : "") }) : null);
}

function checksSection(state, record) {
  const checks = state.checks;
  if (!checks || typeof checks !== "object" || !Object.keys(checks).length) return null;
  const names = Object.keys(checks);
  const rounds = [...new Set(names.flatMap((n) => (checks[n] || []).map((c) => c.round)))].sort((a, b) => a - b);
  const cell = (name, round) => {
    const found = (checks[name] || []).find((c) => c.round === round);
    if (!found) return "";
    const answers = (found.answers || []).map((a) => (a === true ? "yes" : a === false ? "no" : "?")).join(" / ");
    return h("span", { className: found.fired ? "fired" : "" }, answers + (found.fired ? " → stop" : ""));
  };
  return h("section", { className: "protocol-view checks" }, h("h3", { text: "Moderator decisions per round" }),
    table(["round", ...names], rounds.map((r) => [String(r), ...names.map((n) => cell(n, r))])),
    h("p", { className: "muted", text: "stop reason: " + (record.stop_reason || "") + (state.counters ? " · counters " + JSON.stringify(state.counters) : "") }));
}

function treeSection(record) {
  const tree = record.state?.tree;
  if (!tree || !Array.isArray(tree.nodes)) return null;
  const nodes = new Map(tree.nodes.map((n) => [String(n.id), n]));
  const children = new Map();
  for (const edge of tree.edges || tree.links || []) {
    if (!children.has(String(edge.source))) children.set(String(edge.source), []);
    children.get(String(edge.source)).push(String(edge.target));
  }
  const order = (id) => Number(String(id).split(".").pop());
  for (const list of children.values()) list.sort((a, b) => order(a) - order(b));
  const targets = new Set([...children.values()].flat());
  const root = [...nodes.keys()].find((id) => !targets.has(id));
  const pos = new Map();
  let leaf = 0;
  const place = (id, depth) => {
    const kids = children.get(id) || [];
    kids.forEach((k) => place(k, depth + 1));
    const x = kids.length ? (pos.get(kids[0]).x + pos.get(kids[kids.length - 1]).x) / 2 : leaf++;
    pos.set(id, { x, depth });
  };
  if (root !== undefined) place(root, 0);
  const pairs = record.view_extras?.pbt_pairs || [];
  const role = new Map();
  for (const p of pairs) { role.set(p.chosen, "chosen " + p.code); role.set(p.rejected, "rejected " + p.code); }
  const depth = Math.max(0, ...[...pos.values()].map((p) => p.depth));
  const dx = 44, dy = 64;
  const X = (id) => 24 + pos.get(id).x * dx, Y = (id) => 24 + pos.get(id).depth * dy;
  const picture = svg("svg", { class: "tree", width: Math.max(200, leaf * dx + 24), height: (depth + 1) * dy + 24, role: "img" });
  for (const [source, kids] of children) for (const k of kids) if (pos.has(source) && pos.has(k)) picture.append(svg("line", { x1: X(source), y1: Y(source), x2: X(k), y2: Y(k), class: "edge" }));
  for (const p of pairs) {
    if (!pos.has(p.chosen) || !pos.has(p.rejected)) continue;
    const y = Y(p.chosen) + 18;
    picture.append(svg("path", { d: `M${X(p.chosen)},${y} Q${(X(p.chosen) + X(p.rejected)) / 2},${y + 16} ${X(p.rejected)},${y}`, class: "pair " + p.code }));
  }
  for (const [id, node] of nodes) {
    if (!pos.has(id)) continue;
    const turns = node.turns || [];
    const right = turns.some((t) => t.correct === true), wrong = turns.some((t) => t.correct === false);
    const title = svg("title");
    title.textContent = id + " · " + node.kind + " · score " + node.score + (role.has(id) ? " · " + role.get(id) : "") + "\n" + turns.map((t) => t.speaker + " (" + t.prompt + "): " + t.text).join("\n");
    const cls = "node " + (right ? "right" : wrong ? "wrong" : "unknown") + (node.pruned ? " pruned" : "") + (role.has(id) ? " " + role.get(id).split(" ")[0] + " " + role.get(id).split(" ")[1] : "");
    const group = svg("g", { class: cls, "data-node": id }, svg("circle", { cx: X(id), cy: Y(id), r: 12 }), title);
    const label = svg("text", { x: X(id), y: Y(id) + 4, "text-anchor": "middle" });
    label.textContent = (turns[0]?.prompt || "?").slice(0, 2);
    group.append(label);
    picture.append(group);
  }
  const nodeRows = [...nodes.values()].map((n) => [String(n.id), n.kind, String(n.score ?? ""), (n.turns || []).map((t) => t.speaker + " [" + t.prompt + "] " + (t.answer ?? "") + (t.correct === true ? " ✓" : t.correct === false ? " ✗" : "")).join(" | "), role.get(String(n.id)) || (n.pruned ? "pruned" : "")]);
  return h("section", { className: "protocol-view pbt" }, h("h3", { text: "Dialogue tree (" + nodes.size + " nodes, " + pairs.length + " preference pairs)" }),
    h("p", { className: "legend" }, h("span", { className: "swatch right" }), " correct answer ", h("span", { className: "swatch wrong" }), " wrong ",
      h("span", { className: "swatch resist" }), " resist pair ", h("span", { className: "swatch accept" }), " accept pair (thick ring: chosen, dashed: rejected)"),
    h("div", { className: "tree-box" }, picture),
    pairs.length ? table(["parent", "chosen", "rejected", "scores", "code", "speaker"], pairs.map((p) => [p.parent, p.chosen, p.rejected, p.chosen_score + " > " + p.rejected_score, p.code, p.speaker])) : null,
    h("details", {}, h("summary", { text: "every node" }), table(["node", "kind", "score", "turns", "pair"], nodeRows)));
}

function usageSection(record) {
  const usage = record.usage || {};
  const rows = Object.entries(usage).map(([role, u]) => [role, record.models?.[role] || "", String(u.prompt_tokens ?? ""), String(u.completion_tokens ?? "")]);
  return h("section", {}, h("h3", { text: "Tokens and timing" }),
    table(["role", "model", "prompt tokens", "completion tokens"], rows),
    h("p", { className: "muted", text: "wall time " + fmt(record.timing?.wall_s ?? 0, 3) + " s · seed " + (record.seed ?? "") + " · stop: " + (record.stop_reason || "") }));
}

function renderUnit(key, wanted) {
  const unit = UNITS.find((u) => u.key === key);
  if (!unit) { app.replaceChildren(h("p", { className: "note", text: "No unit " + key + " in these runs." })); return; }
  const entry = unit.entries.find((e) => e.run === wanted) || unit.entries[0];
  const record = first(unit);
  const answers = record.answers || [];
  const head = h("section", { className: "unit-head" },
    h("p", {}, h("a", { href: "#/", text: "← all units" })),
    h("h2", { text: key }),
    h("p", { className: "question", text: record.question || "" }),
    h("ol", { className: "answers" }, answers.map((a, i) => h("li", { className: i === record.correct_index ? "correct" : "" },
      h("b", { text: LABELS[i] + ": " }), a, i === record.correct_index ? " ✓ correct" : "",
      Object.entries(record.defends || {}).filter(([, d]) => d === i).map(([r]) => h("small", { className: "muted", text: "  defended by " + r }))))));
  const judged = unit.entries.filter((e) => e.record);
  const compare = judged.length > 1 ? h("section", { className: "compare" }, h("h3", { text: "The same unit in each run" }),
    table(["run", "judge", "method", "verdict", "outcome"], judged.map((e) => {
      const final = e.record.final_verdict;
      const judgeRole = final?.role;
      return [h("a", { href: "#/unit/" + encodeURIComponent(key) + "?run=" + e.run, text: DATA.runs[e.run].name }), judgeRole ? e.record.models?.[judgeRole] || "" : "",
        final?.method || "", final?.valid && final.probs ? bars(final.probs, [], record.correct_index) : (final ? "invalid" : "—"), outcome(e)];
    }))) : null;
  const tabs = unit.entries.length > 1 ? h("nav", { className: "tabs" }, unit.entries.map((e) => h("a", { href: "#/unit/" + encodeURIComponent(key) + "?run=" + e.run, className: e === entry ? "active" : "", text: DATA.runs[e.run].name }))) : null;
  const body = [];
  if (entry.failure) {
    body.push(h("section", { className: "failure" }, h("h3", { text: "Failed" }), h("pre", { className: "text", text: entry.failure.error || "" })));
  } else {
    const r = entry.record;
    body.push(h("p", { className: "muted", text: [DATA.runs[entry.run].name, r.protocol, "scenario " + r.scenario_id, r.swap ? "swapped order" : "original order",
      Object.keys(r.variant || {}).length ? "variant " + JSON.stringify(r.variant) : "", "rounds " + r.rounds, r.source_run ? "judged from " + r.source_run : ""].filter(Boolean).join(" · ") }));
    const state = r.state || {};
    const tree = treeSection(r);
    body.push(checksSection(state, r), votesSection(state));
    if (tree) body.push(tree, h("details", {}, h("summary", { text: "every turn, in order" }), transcript(r)));
    else body.push(h("section", {}, h("h3", { text: "Turns" }), transcript(r)));
    if ((r.verdicts || []).length) body.push(h("section", {}, h("h3", { text: "Verdicts" }), r.verdicts.map((v) => verdictBlock(r, v))));
    body.push(usageSection(r));
  }
  app.replaceChildren(...[head, compare, tabs, h("div", { className: "entry" }, body)].filter(Boolean));
}

// ----- run summaries ------------------------------------------------------------------------

function summaryRows(summary) {
  const rows = [];
  const walk = (prefix, value) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      if ("value" in value && ("ci95" in value || "n" in value)) {
        rows.push([prefix, fmt(value.value) + (Array.isArray(value.ci95) ? " [" + value.ci95.map((v) => fmt(v)).join(", ") + "]" : ""), String(value.n ?? "")]);
        return;
      }
      for (const [k, v] of Object.entries(value)) walk(prefix ? prefix + " · " + k : k, v);
    } else if (Array.isArray(value)) {
      rows.push([prefix, value.every((v) => typeof v !== "object") ? value.map((v) => fmt(v)).join(", ") : JSON.stringify(value), ""]);
    } else {
      rows.push([prefix, fmt(value), ""]);
    }
  };
  walk("", summary);
  return rows;
}

function renderRun(i) {
  const run = DATA.runs[i];
  if (!run) { app.replaceChildren(h("p", { className: "note", text: "No such run." })); return; }
  const spec = run.spec || {};
  app.replaceChildren(h("section", { className: "run" },
    h("p", {}, h("a", { href: "#/", text: "← all units" })),
    h("h2", { text: run.name }),
    h("p", { className: "muted", text: run.path }),
    table(["", ""], [["protocol", spec.protocol ?? ""], ["models", judgeOf(run)], ["scenarios", String(spec.scenarios ?? "")], ["seed", String(spec.seed ?? "")],
      ["units", run.records.length + " finished, " + run.failures.length + " failed"], ["command", spec.command ?? ""]]),
    run.running ? h("p", { className: "live", text: "This run is still being written; reload to see new units." }) : null,
    run.summary ? h("section", {}, h("h3", { text: "Summary" }), table(["measure", "value", "n"], summaryRows(run.summary))) : null,
    run.plots.length ? h("section", { className: "plots" }, h("h3", { text: "Plots" }),
      run.plots.filter((p) => p.src).map((p) => h("figure", {}, h("img", { src: withToken(p.src), alt: p.name }), h("figcaption", { text: p.name })))) : null,
    run.report ? h("details", {}, h("summary", { text: "report.md" }), h("pre", { className: "text", text: run.report })) : null));
}

// ----- routing, loading, following ------------------------------------------------------------

function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  if (path.startsWith("/unit/")) renderUnit(decodeURIComponent(path.slice(6)), Number(params.get("run") ?? -1));
  else if (path.startsWith("/run/")) renderRun(Number(path.slice(5)));
  else renderList();
  window.scrollTo(0, 0);
}

function header() {
  const nav = document.getElementById("runs");
  nav.replaceChildren(...DATA.runs.map((run, i) => h("a", { href: "#/run/" + i, text: run.name, title: judgeOf(run) })));
  const live = document.getElementById("live");
  const running = DATA.runs.some((r) => r.running);
  live.replaceChildren();
  if (running && !embedded) {
    const box = h("input", { type: "checkbox", id: "follow", onchange: (e) => follow(e.target.checked) });
    box.checked = timer !== null;
    live.append(h("span", { className: "live", text: "● run in progress " }), h("label", {}, box, " follow"));
  }
}

function follow(on) {
  if (timer) { clearInterval(timer); timer = null; }
  if (!on) return;
  timer = setInterval(async () => {
    const before = DATA.runs.map((r) => r.records.length + r.failures.length).join();
    const fresh = await load().catch(() => null);
    if (!fresh) return;
    const after = fresh.runs.map((r) => r.records.length + r.failures.length).join();
    DATA = fresh;
    UNITS = index(DATA);
    header();
    if (before !== after) route();
    if (!DATA.runs.some((r) => r.running)) follow(false);
  }, 3000);
}

function askToken(message) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off" });
  app.replaceChildren(h("form", { className: "token", onsubmit: (e) => { e.preventDefault(); sessionStorage.setItem("debate-token", input.value); start(); } },
    h("p", { text: message }), input, h("button", { type: "submit", text: "Open" })));
}

async function start() {
  if (needsToken && !token()) { askToken("This viewer needs its token."); return; }
  try {
    DATA = await load();
  } catch (error) {
    if (error.message === "token") { sessionStorage.removeItem("debate-token"); askToken("Wrong token; try again."); return; }
    app.replaceChildren(h("p", { className: "note", text: "Could not load the runs: " + error.message }));
    return;
  }
  UNITS = index(DATA);
  header();
  route();
}

window.addEventListener("hashchange", route);
start();
