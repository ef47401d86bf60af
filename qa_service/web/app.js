// qa-service web page: asks POST /v1/ask with streaming and renders a cited answer.
// Security rule: server data only ever enters the page as text nodes
// (textContent, or append() with a string, which makes a Text node), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("ask-form"), question = $("question"), asOf = $("as-of"), topK = $("top-k");
const askButton = $("ask"), stopButton = $("stop");
const statusEl = $("status"), errorEl = $("error"), answerEl = $("answer"), sourcesEl = $("sources");
const panel = $("source-panel"), panelBody = $("source-body");
const keyForm = $("key-form"), keyInput = $("api-key");

// The server's API key, when it has one: asked once, kept in this tab's session
// storage (gone when the tab closes), sent only in the Authorization header.
const KEY_ITEM = "qa-service.api-key";
let pending = null;         // the question waiting for a key

let controller = null;      // AbortController of the running request, null when idle
let passages = new Map();   // passage n -> passage
let citations = new Map();  // citation n -> citation
let draft = null;           // element receiving streamed tokens
let opener = null;          // marker that opened the source panel, to give focus back

/** Builds an element; string children become text nodes. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A new-tab link labelled with its host, or null when the URL is not plain http(s)
 *  (a "javascript:" URL from a crafted article must never become a link). */
function safeLink(url) {
  if (typeof url !== "string" || !/^https?:\/\//i.test(url)) return null;
  let host = url;
  try { host = new URL(url).host; } catch { /* keep the raw URL as the label */ }
  return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, host);
}

const dateOf = (published) => (typeof published === "string" && published ? published.slice(0, 10) : "undated");

/** "Title — date — link" as a list of nodes. */
function articleLine(item) {
  const link = safeLink(item.url);
  return [el("strong", {}, item.title || "Untitled"), " — ", dateOf(item.published_at), ...(link ? [" — ", link] : [])];
}

function setState(state) { document.body.dataset.state = state; }
function setStatus(text) { statusEl.textContent = text; }

/** Shows the message in the error box; returns the outcome "error". */
function showError(message) {
  errorEl.textContent = message;
  errorEl.hidden = false;
  setStatus("");
  return "error";
}

function setBusy(busy) {
  askButton.disabled = busy;
  stopButton.disabled = !busy;
  answerEl.setAttribute("aria-busy", String(busy)); // screen readers wait for the final text
}

function reset() {
  passages = new Map();
  citations = new Map();
  draft = null;
  errorEl.hidden = true;
  for (const node of [errorEl, answerEl, sourcesEl, panelBody]) node.replaceChildren();
  panel.hidden = true;
}

// ---- server-sent events -------------------------------------------------

/** Splits a text stream into SSE events, calling onEvent(name, data) for each.
 *  Done by hand because EventSource can only GET. */
function createSseParser(onEvent) {
  let buffer = "";
  const dispatch = (block) => {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue; // ":" starts a comment (keep-alive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (data.length || name !== "message") onEvent(name, data.join("\n"));
  };
  return {
    push(chunk) {
      buffer += chunk;
      // A trailing "\r" may be the first half of a "\r\n" split across chunks: hold it back.
      const held = buffer.endsWith("\r") ? "\r" : "";
      let text = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
      for (let cut; (cut = text.indexOf("\n\n")) >= 0; text = text.slice(cut + 2)) dispatch(text.slice(0, cut));
      buffer = text + held;
    },
    end() {
      const rest = buffer.replace(/\r\n?/g, "\n");
      buffer = "";
      if (rest.trim()) dispatch(rest);
    },
  };
}

/** Handles one event; returns the request's outcome once it is known, else null. */
function handleEvent(name, data) {
  if (name === "passages") {
    const list = JSON.parse(data);
    remember(list);
    setStatus(`Reading ${list.length} passages…`);
  } else if (name === "token") {
    if (!draft) {
      draft = el("p", { className: "draft" });
      answerEl.replaceChildren(draft);
      setStatus("Writing the answer…");
    }
    draft.append(JSON.parse(data).text ?? "");
  } else if (name === "answer") {
    return renderAnswer(JSON.parse(data));
  } else if (name === "error") {
    const error = (JSON.parse(data) || {}).error || {};
    return showError(error.message || "The server reported an error.");
  }
  return null; // "done" and unknown events need no action
}

/** Keeps passages by n; the streamed copy wins because it carries offsets. */
function remember(list) {
  for (const p of list || []) passages.set(p.n, Object.assign({}, p, passages.get(p.n)));
}

async function errorMessage(response) {
  try {
    const error = (await response.json()).error;
    if (error && error.message) return error.message;
  } catch { /* body was not JSON */ }
  return `The server answered ${response.status} ${response.statusText}.`.replace(" .", ".");
}

/** Runs one request. The final body state is set only once the request is over,
 *  so whoever waits on it (people, tests) finds the Ask button usable again. */
async function ask(body) {
  controller = new AbortController();
  reset();
  setBusy(true);
  setState("streaming");
  setStatus("Searching the articles…");
  let outcome = null;
  try {
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const key = sessionStorage.getItem(KEY_ITEM);
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch("/v1/ask", {
      method: "POST", headers, body: JSON.stringify(body), signal: controller.signal,
    });
    if (response.status === 401) {
      outcome = askForKey(body, Boolean(key));
      return;
    }
    if (!response.ok) {
      outcome = showError(await errorMessage(response));
      return;
    }
    if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      outcome = renderAnswer(await response.json()); // a server may ignore stream: true
      return;
    }
    const parser = createSseParser((name, data) => { outcome = handleEvent(name, data) || outcome; });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
    if (!outcome) outcome = showError("The connection closed before the answer was complete.");
  } catch (err) {
    if (err.name === "AbortError") {
      setStatus("Stopped.");
      outcome = "stopped";
    } else if (err instanceof SyntaxError) {
      outcome = showError("The server sent a response this page cannot read.");
    } else {
      outcome = showError("Could not reach the server. Check your connection and that qa-service is running.");
    }
  } finally {
    controller = null;
    setBusy(false);
    setState(outcome);
  }
}

/** Shows the key form; the question is asked again once a key is given. */
function askForKey(body, rejected) {
  sessionStorage.removeItem(KEY_ITEM);
  pending = body;
  keyForm.hidden = false;
  setStatus(rejected ? "That API key was refused; enter the right one." : "This server needs an API key.");
  keyInput.focus();
  return "key";
}

// ---- rendering ------------------------------------------------------------

function marker(n) {
  return el("button", { type: "button", className: "cite", title: `Show source ${n}`, dataset: { n: String(n) } }, `[${n}]`);
}

/** Appends text, turning each "[n]" that names a known citation into a marker.
 *  Returns the citation numbers it turned into markers. */
function appendWithMarkers(parent, text) {
  const seen = new Set();
  let last = 0;
  for (const m of (text || "").matchAll(/\[(\d+)\]/g)) {
    const n = Number(m[1]);
    if (!citations.has(n)) continue;
    parent.append(text.slice(last, m.index), marker(n));
    last = m.index + m[0].length;
    seen.add(n);
  }
  parent.append((text || "").slice(last));
  return seen;
}

function renderSentence(parent, sentence) {
  const span = el("span", { className: sentence.flagged ? "sentence flagged" : "sentence" });
  const inText = appendWithMarkers(span, sentence.text);
  for (const n of sentence.citations || []) {
    if (citations.has(n) && !inText.has(n)) span.append(" ", marker(n));
  }
  if (sentence.flagged) {
    span.title = "Not supported by the sources";
    span.append(el("span", { className: "visually-hidden" }, " (unsupported)"));
  }
  parent.append(span, " ");
}

/** Replaces the draft with the final answer; returns the outcome. */
function renderAnswer(answer) {
  citations = new Map((answer.citations || []).map((c) => [c.n, c]));
  remember(answer.passages);
  const text = el("p", { className: "answer-text" });
  if (answer.abstained) {
    answerEl.replaceChildren(el("p", { className: "notice" }, "The indexed articles don't answer this question."), text);
    text.append(answer.answer || "");
    renderNearest();
    setStatus("No answer in the indexed articles.");
    return "abstained";
  }
  if ((answer.sentences || []).length) answer.sentences.forEach((s) => renderSentence(text, s));
  else appendWithMarkers(text, answer.answer);
  answerEl.replaceChildren(text);
  renderSources([...citations.values()]);
  const total = answer.timings_ms && answer.timings_ms.total;
  setStatus(total ? `Answered in ${(total / 1000).toFixed(1)} s.` : "Answered.");
  return "answered";
}

function renderList(heading, items) {
  if (items.length) sourcesEl.replaceChildren(el("h2", {}, heading), el("ol", { className: "source-list" }, ...items));
}

function renderSources(list) {
  renderList("Sources", list.map((c) => el("li", {}, marker(c.n), " ", ...articleLine(c), el("blockquote", {}, c.quote || ""))));
}

function renderNearest() {
  const list = [...passages.values()].sort((a, b) => a.n - b.n);
  renderList("Nearest passages", list.map((p) =>
    el("li", {}, `[${p.n}] `, ...articleLine(p), el("p", { className: "passage" }, p.text || ""))));
}

// ---- source panel ---------------------------------------------------------

const squash = (s) => s.replace(/\s+/g, " ").trim();
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function passageFor(c) {
  const all = [...passages.values()];
  return passages.get(c.passage)
    || all.find((p) => p.article_id === c.article_id && p.start <= c.start && c.end <= p.end);
}

/** [from, to) of the quote inside the passage text, or null.
 *  Citation offsets are article offsets, so shift by the passage's start; if that
 *  does not land on the quote, search for it (allowing for whitespace changes). */
function highlightRange(p, c) {
  const text = p.text || "";
  const quote = typeof c.quote === "string" ? c.quote : "";
  if ([p.start, c.start, c.end].every(Number.isInteger)) {
    const from = c.start - p.start, to = c.end - p.start;
    if (from >= 0 && to > from && to <= text.length && (!quote || squash(text.slice(from, to)) === squash(quote))) {
      return [from, to];
    }
  }
  if (!quote.trim()) return null;
  const at = text.indexOf(quote);
  if (at >= 0) return [at, at + quote.length];
  const match = new RegExp(quote.trim().split(/\s+/).map(escapeRegExp).join("\\s+")).exec(text);
  return match ? [match.index, match.index + match[0].length] : null;
}

function openSource(n, trigger) {
  const c = citations.get(n);
  if (!c) return;
  const p = passageFor(c);
  const range = p && highlightRange(p, c);
  const body = [el("h2", {}, `[${n}] `, ...articleLine({ ...p, ...c }))];
  if (range) {
    const [from, to] = range;
    body.push(el("p", { className: "passage" }, p.text.slice(0, from), el("mark", {}, p.text.slice(from, to)), p.text.slice(to)));
  } else {
    body.push(el("p", { className: "hint" }, "The quoted sentence could not be located in the retrieved passage."),
      el("blockquote", {}, el("mark", {}, c.quote || "")));
    if (p) body.push(el("p", { className: "passage" }, p.text || ""));
  }
  panelBody.replaceChildren(...body);
  panel.hidden = false;
  opener = trigger;
  panel.focus({ preventScroll: true });
  panel.querySelector("mark").scrollIntoView({ block: "center" });
}

function closeSource() {
  panel.hidden = true;
  if (opener && opener.isConnected) opener.focus();
}

// ---- wiring ---------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = question.value.trim();
  if (controller || !text) return;
  const body = { question: text, stream: true };
  if (asOf.value) body.as_of = asOf.value;
  if (topK.value !== "") body.top_k = Number(topK.value);
  ask(body);
});

question.addEventListener("keydown", (event) => {
  // isComposing: Enter also confirms IME input (Japanese, Chinese...), which must not submit.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit(); // runs the inputs' validation, unlike form.submit()
  }
});

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key || controller) return;
  sessionStorage.setItem(KEY_ITEM, key);
  keyInput.value = "";
  keyForm.hidden = true;
  if (pending) ask(pending);
});

stopButton.addEventListener("click", () => controller && controller.abort());

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.cite[data-n]");
  if (button) openSource(Number(button.dataset.n), button);
});

$("close-source").addEventListener("click", closeSource);
panel.addEventListener("keydown", (event) => { if (event.key === "Escape") closeSource(); });
