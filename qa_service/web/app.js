// qa-service web page: ask with streamed, cited answers; list, read, upload and delete articles.
// Security rule: server data only ever enters the page as text nodes
// (textContent, or append() with a string, which makes a Text node), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const askForm = $("ask-form"), question = $("question"), questionCount = $("question-count");
const asOf = $("as-of"), topK = $("top-k"), after = $("published-after"), before = $("published-before");
const filters = $("filters"), filterSummary = $("filter-summary"), sourceOptions = $("source-options");
const askButton = $("ask"), stopButton = $("stop");
const statusEl = $("status"), errorEl = $("error"), answerEl = $("answer");
const passagesSection = $("passages-section"), passagesHeading = $("passages-heading");
const passagesHint = $("passages-hint"), passagesEl = $("passages");
const keyForm = $("key-form"), keyInput = $("api-key");
const articleCount = $("article-count");
const uploadSource = $("upload-source"), fileInput = $("files"), dropZone = $("drop-zone");
const uploadResults = $("upload-results");
const titleSearch = $("title-search"), articlesStatus = $("articles-status"), articleRows = $("article-rows");
const prevPage = $("prev-page"), nextPage = $("next-page"), pageInfo = $("page-info");
const articleTitle = $("article-title"), articleMeta = $("article-meta"), articleBody = $("article-body");
const articleError = $("article-error"), quoteNote = $("quote-note"), backToAnswer = $("back-to-answer");
const deleteButton = $("delete"), confirmBox = $("confirm-delete"), confirmText = $("confirm-text");

const VIEWS = { ask: $("view-ask"), articles: $("view-articles"), article: $("view-article") };
const PAGE_SIZE = 20;
const ABSTAINED = "The indexed articles do not answer this question.";

let controller = null;      // AbortController of the running question, null when idle
let passages = new Map();   // passage n -> passage of the current question
let citations = new Map();  // citation n -> citation of the current answer
let answered = null;        // the current Answer, once it has come
let draft = null;           // element receiving streamed tokens
let listing = { offset: 0, q: "" }; // the page of the article list shown
let listTicket = 0;         // only the latest list request may fill the table (typing searches fast)
let shown = null;           // the article record on the article page
let listNotice = "";        // said once above the list, e.g. what was just deleted

// ---- small helpers ----------------------------------------------------------

const present = (nodes) => nodes.filter((c) => c !== null && c !== undefined && c !== false);

/** Builds an element; string children become text nodes, null ones are left out. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else node[key] = value;
  }
  node.append(...present(children));
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
const articleHref = (id, range) => `#/article/${encodeURIComponent(id)}${range ? `/${range[0]}-${range[1]}` : ""}`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function setState(state) { document.body.dataset.state = state; }
function setStatus(text) { statusEl.textContent = text; }

// ---- the API: one key, asked once ---------------------------------------------

// The server's API key, when it has one: asked once, kept in this tab's session
// storage (gone when the tab closes), sent only in the Authorization header.
const KEY_ITEM = "qa-service.api-key";
const waiting = new Set();  // actions to run again once a key is given

/** A 401; ``sent`` is the key the request carried (null: none). */
class KeyNeeded extends Error {
  constructor(sent) { super("API key needed"); this.sent = sent; }
}

class ApiError extends Error {
  constructor(message, detail = {}) { super(message); this.detail = detail; }
}

// Server messages name the setting behind a limit, which means nothing to a reader of this page.
const SETTING = /\s*\(?\bQA_[A-Z0-9_]+\)?/g;

/** A message for people from an error body {code, message, ...}. */
function readable(error) {
  switch (error.code) {
    case "question_too_long": return `The question is too long: the limit is ${question.maxLength} characters.`;
    case "queue_full": return "The server is busy answering other questions. Try again in a few seconds.";
    case "model_unavailable": return "The language model cannot be reached right now. Try again in a moment.";
    case "shutting_down": return "The server stopped before answering. Try again in a moment.";
    default: {
      const text = String(error.message || "The server reported an error.").replace(SETTING, "").trim();
      return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
    }
  }
}

async function errorOf(response) {
  try {
    const error = (await response.json()).error;
    if (error && (error.message || error.code)) return new ApiError(readable(error), error);
  } catch { /* body was not JSON */ }
  return new ApiError(`The server answered ${response.status} ${response.statusText}.`.replace(" .", "."));
}

/** fetch() with the key; throws KeyNeeded on 401, ApiError on other failures. */
async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = sessionStorage.getItem(KEY_ITEM);
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("Could not reach the server. Check your connection and that qa-service is running.");
  }
  if (response.status === 401) {
    // Forget the refused key, unless a newer one was given while this request was on its way.
    if (sessionStorage.getItem(KEY_ITEM) === key) sessionStorage.removeItem(KEY_ITEM);
    throw new KeyNeeded(key);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

const getJson = async (path) => (await api(path)).json();

/** Runs ``action``; when the server wants a key, asks for it and runs ``action`` again once given. */
async function withKey(action) {
  try {
    return await action();
  } catch (err) {
    if (!(err instanceof KeyNeeded)) throw err;
    askForKey(err, action);
    return undefined;
  }
}

/** Shows the key form; ``action`` runs again once a key is given. A request refused for a key
 *  that has been replaced since (several were under way) runs again at once, with the new key. */
function askForKey(refusal, action) {
  const current = sessionStorage.getItem(KEY_ITEM);
  if (current && current !== refusal.sent) {
    setTimeout(() => withKey(action).catch(() => { /* each action shows its own errors */ }));
    return;
  }
  const rejected = Boolean(refusal.sent);
  waiting.add(action);
  const first = keyForm.hidden;
  keyForm.hidden = false;
  $("key-hint").textContent = rejected
    ? "That API key was refused; enter the right one."
    : "This server needs its API key. It is kept in this tab only and sent with each request.";
  if (first || rejected) keyInput.focus();
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_ITEM, key);
  keyInput.value = "";
  keyForm.hidden = true;
  const actions = [...waiting];
  waiting.clear();
  for (const action of actions) withKey(action).catch(() => { /* each action shows its own errors */ });
});

// ---- views --------------------------------------------------------------------

/** Shows the view the URL's hash names: #/ask, #/articles, #/article/ID[/START-END]. */
function route(moveFocus = true) {
  const [view, id, range] = location.hash.replace(/^#\/?/, "").split("/");
  if (view === "articles") {
    show("articles", moveFocus && $("articles-heading"));
    withKey(loadArticles).catch(showListError);
  } else if (view === "article" && id) {
    show("article", null);
    const bounds = /^(\d+)-(\d+)$/.exec(range || "");
    withKey(() => openArticle(decodeURIComponent(id), bounds && [Number(bounds[1]), Number(bounds[2])], moveFocus))
      .catch((err) => showArticleError(err.message));
  } else {
    show("ask", moveFocus && question);
  }
}

function show(name, focusTarget) {
  for (const [key, section] of Object.entries(VIEWS)) section.hidden = key !== name;
  document.body.dataset.view = name;
  const current = name === "ask" ? "nav-ask" : "nav-articles";
  for (const id of ["nav-ask", "nav-articles"]) {
    if (id === current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (focusTarget) focusTarget.focus();
}

async function refreshCount() {
  const { total } = await getJson("/v1/articles?limit=1");
  articleCount.textContent = `(${total})`;
  articleCount.title = `${plural(total, "article")} indexed`;
  if (!answered && !controller && !draft) {
    answerEl.replaceChildren(el("p", { className: "placeholder" }, total
      ? `${plural(total, "article")} ${total === 1 ? "is" : "are"} indexed. Ask a question about them, or add your own under `
      : "No articles are indexed yet: add some under ", el("a", { href: "#/articles" }, "Articles"), "."));
  }
}

async function refreshSources() {
  const { sources } = await getJson("/v1/sources");
  const ticked = new Set(chosenSources());
  sourceOptions.replaceChildren(...sources.map((s, i) => {
    const box = el("input", { type: "checkbox", id: `source-${i}`, value: s.name, checked: ticked.has(s.name) });
    return el("div", { className: "check" }, box,
      el("label", { htmlFor: box.id }, s.name, el("span", { className: "hint" }, ` (${s.articles})`)));
  }));
  if (!sources.length) sourceOptions.append(el("p", { className: "hint" }, "No sources yet."));
  summarizeFilters();
}

/** The article count and the sources changed: read them again. */
function refreshCorpus() {
  for (const action of [refreshCount, refreshSources]) withKey(action).catch(() => { /* not shown: optional */ });
}

// ---- asking ---------------------------------------------------------------------

function chosenSources() {
  return [...sourceOptions.querySelectorAll("input:checked")].map((box) => box.value);
}

/** The request's filters, or null; throws an ApiError for a date range that ends before it starts. */
function chosenFilters() {
  const chosen = {};
  if (after.value) chosen.published_after = after.value;
  if (before.value) chosen.published_before = before.value;
  const sources = chosenSources();
  if (sources.length) chosen.sources = sources;
  if (after.value && before.value && after.value > before.value) {
    throw new ApiError("The “from” date is after the “to” date.");
  }
  return Object.keys(chosen).length ? chosen : null;
}

function summarizeFilters() {
  const active = [after.value || before.value, asOf.value, topK.value, chosenSources().length].filter(Boolean).length;
  filterSummary.textContent = active ? `(${active} set)` : "";
}

function setBusy(busy) {
  askButton.disabled = busy;
  stopButton.disabled = !busy;
  answerEl.setAttribute("aria-busy", String(busy)); // screen readers wait for the final text
}

function showError(message) {
  errorEl.textContent = message;
  errorEl.hidden = false;
  setStatus("");
  return "error";
}

function reset() {
  passages = new Map();
  citations = new Map();
  answered = null;
  draft = null;
  errorEl.hidden = true;
  errorEl.replaceChildren();
  answerEl.replaceChildren();
  passagesEl.replaceChildren();
  passagesSection.hidden = true;
}

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
    renderPassages(list);
    answerEl.replaceChildren(el("p", { className: "placeholder" }, "Reading the passages below…"));
    setState("reading");
    setStatus(list.length ? `Found ${plural(list.length, "passage")}; reading them…` : "Found no passages.");
  } else if (name === "token") {
    if (!draft) {
      draft = el("p", { className: "draft" });
      answerEl.replaceChildren(el("p", { className: "hint" }, "Answer found; attaching its quotes…"), draft);
      setState("writing");
      setStatus("Writing the answer…");
    }
    const text = JSON.parse(data).text ?? "";
    draft.append(draft.textContent ? text : text.trimStart());
  } else if (name === "answer") {
    return renderAnswer(JSON.parse(data));
  } else if (name === "error") {
    return showError(readable((JSON.parse(data) || {}).error || {}));
  }
  return null; // "done" and unknown events need no action
}

/** Runs one question. The final body state is set only once the request is over,
 *  so whoever waits on it (people, tests) finds the Ask button usable again. */
async function ask(body) {
  controller = new AbortController();
  reset();
  setBusy(true);
  setState("searching");
  setStatus("Searching the articles…");
  let outcome = null;
  try {
    const response = await api("/v1/ask", {
      method: "POST", signal: controller.signal, body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    });
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
    if (err instanceof KeyNeeded) {
      askForKey(err, () => ask(body));
      setStatus("");
      outcome = "key";
    } else if (err.name === "AbortError") {
      setStatus("Stopped.");
      outcome = "stopped";
    } else if (err instanceof SyntaxError) {
      outcome = showError("The server sent a response this page cannot read.");
    } else {
      outcome = showError(err instanceof ApiError ? err.message
        : "The connection to the server was lost before the answer was complete.");
    }
  } finally {
    controller = null;
    setBusy(false);
    if (!answered && (outcome === "stopped" || outcome === "error")) {
      passagesHint.textContent = "Best first.";
      if (!draft) {
        answerEl.replaceChildren(el("p", { className: "placeholder" },
          outcome === "stopped" ? "Stopped before the answer was written." : "No answer (see the message above)."));
      }
    }
    setState(outcome);
  }
}

function stop() {
  if (controller) controller.abort();
}

// ---- rendering an answer -----------------------------------------------------------

function marker(n) {
  const c = citations.get(n);
  return el("button", { type: "button", className: "cite", dataset: { n: String(n) },
    title: `Show quote ${n}${c && c.title ? ` from “${c.title}”` : ""}` }, `[${n}]`);
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
  if (sentence.flagged) span.append(el("span", { className: "flag" }, "not supported"), " ");
  const inText = appendWithMarkers(span, sentence.text);
  for (const n of sentence.citations || []) {
    if (citations.has(n) && !inText.has(n)) span.append(" ", marker(n));
  }
  parent.append(span, " ");
}

/** Replaces the draft with the final answer; returns the outcome. */
function renderAnswer(answer) {
  answered = answer;
  citations = new Map((answer.citations || []).map((c) => [c.n, c]));
  renderPassages(answer.passages || [...passages.values()]);
  const seconds = answer.timings_ms && answer.timings_ms.total ? ` in ${(answer.timings_ms.total / 1000).toFixed(1)} s` : "";
  if (answer.abstained) {
    const nearest = passages.size > 0;
    // Said once: the notice is the answer.
    answerEl.replaceChildren(...present([el("p", { className: "notice" }, answer.answer || ABSTAINED),
      nearest && el("p", { className: "hint" }, "The nearest passages are below; they may still help.")]));
    setStatus(`Searched${seconds}.`);
    return "abstained";
  }
  const text = el("p", { className: "answer-text" });
  if ((answer.sentences || []).length) answer.sentences.forEach((s) => renderSentence(text, s));
  else appendWithMarkers(text, answer.answer);
  const flagged = (answer.sentences || []).some((s) => s.flagged);
  answerEl.replaceChildren(...present([text, flagged && el("p", { className: "flag-note" },
    el("span", { className: "flag" }, "not supported"),
    " marks a sentence that no quoted sentence states: it is the model's wording, not the articles'. "
    + "Check it before using it.")]));
  setStatus(`Answered${seconds}.`);
  return "answered";
}

// ---- passages ------------------------------------------------------------------------

const squash = (s) => s.replace(/\s+/g, " ").trim();
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

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

function passageOf(c) {
  return passages.get(c.passage)
    || [...passages.values()].find((p) => p.article_id === c.article_id && p.start <= c.start && c.end <= p.end);
}

/** The passage's text with each quote of the answer marked, and the citations it holds. */
function markedText(p) {
  const quotes = [...citations.values()].filter((c) => passageOf(c) === p)
    .map((c) => ({ c, range: highlightRange(p, c) })).filter((q) => q.range)
    .sort((a, b) => a.range[0] - b.range[0]);
  const text = p.text || "";
  const quoted = quotes.map((q) => q.c).sort((a, b) => a.n - b.n);
  const body = el("p", { className: "passage-text" });
  let last = 0;
  for (const { c, range: [from, to] } of quotes) {
    if (from < last) continue; // two citations of one sentence: mark it once
    body.append(text.slice(last, from), el("mark", { id: `quote-${c.n}`, tabIndex: -1, title: `Quote [${c.n}]` },
      text.slice(from, to)));
    last = to;
  }
  body.append(text.slice(last));
  return { body, quoted };
}

/** Passage cards, best first: collapsed while the answer is written, the quoted ones open after. */
function renderPassages(list) {
  passages = new Map(list.map((p) => [p.n, p]));
  passagesSection.hidden = list.length === 0;
  const abstained = answered && answered.abstained;
  passagesHeading.textContent = abstained ? "Nearest passages" : "Retrieved passages";
  passagesHint.textContent = answered ? (abstained ? "None of them answers the question."
    : "Quoted sentences are highlighted; open a passage to read it.") : "Best first. The answer is being written from them.";
  passagesEl.replaceChildren(...[...passages.values()].sort((a, b) => a.n - b.n).map((p) => {
    const { body, quoted } = markedText(p);
    const link = safeLink(p.url);
    const summary = el("summary", {},
      el("span", { className: "badge" }, String(p.n)), " ",
      el("strong", {}, p.title || "Untitled"), " ",
      el("span", { className: "hint" }, `— ${dateOf(p.published_at)}`),
      ...quoted.map((c) => el("span", { className: "quoted" }, `quoted as [${c.n}]`)),
      el("span", { className: "snippet" }, squash(p.text || "")));
    const links = el("p", { className: "passage-links" },
      el("a", { href: articleHref(p.article_id, [p.start, p.end]) }, "Read the whole article"),
      ...quoted.flatMap((c) => [" · ", el("a", { href: articleHref(c.article_id, [c.start, c.end]), className: "quote-link",
        dataset: { n: String(c.n) } }, `Quote [${c.n}] in the article`)]),
      ...(link ? [" · ", link] : []));
    return el("li", { className: "passage-card", id: `passage-${p.n}`, dataset: { n: String(p.n), article: p.article_id } },
      el("details", { open: quoted.length > 0 }, summary, body, links));
  }));
}

/** Opens the passage that holds quote n and puts the reader on the quote. */
function showQuote(n) {
  const mark = $(`quote-${n}`);
  if (!mark) return;
  mark.closest("details").open = true;
  for (const other of passagesEl.querySelectorAll("mark.active")) other.classList.remove("active");
  mark.classList.add("active");
  mark.focus({ preventScroll: true });
  mark.scrollIntoView({ block: "center" });
}

// ---- articles -----------------------------------------------------------------------

async function loadArticles() {
  const q = titleSearch.value.trim();
  if (q !== listing.q) listing = { offset: 0, q };
  const params = new URLSearchParams({ sort: "newest", offset: String(listing.offset), limit: String(PAGE_SIZE) });
  if (q) params.set("q", q);
  articlesStatus.textContent = "Loading…";
  const ticket = ++listTicket;
  const page = await getJson(`/v1/articles?${params}`);
  if (ticket !== listTicket) return;
  articleRows.replaceChildren(...page.articles.map((a) => el("tr", { dataset: { id: a.id } },
    el("td", {}, el("a", { href: articleHref(a.id) }, a.title || "Untitled")),
    el("td", {}, a.source || ""),
    el("td", { className: "date" }, dateOf(a.published_at)),
    el("td", { className: "num" }, String(a.chunks)))));
  const from = page.total ? page.offset + 1 : 0, to = page.offset + page.articles.length;
  const found = page.total ? `${plural(page.total, "article")}${q ? ` with “${q}” in the title` : ""}, newest first.`
    : q ? `No article title contains “${q}”.` : "No articles are indexed yet. Add some above.";
  articlesStatus.textContent = `${listNotice} ${found}`.trim();
  listNotice = "";
  pageInfo.textContent = page.total > PAGE_SIZE ? `${from}–${to} of ${page.total}` : "";
  prevPage.disabled = page.offset === 0;
  nextPage.disabled = to >= page.total;
  if (!q && listing.offset === 0) articleCount.textContent = `(${page.total})`;
}

function showListError(err) { articlesStatus.textContent = err.message; }

function showArticleError(message) {
  articleError.textContent = message;
  articleError.hidden = false;
  $("article").hidden = true;
  $("delete-box").hidden = true;
}

/** The article page; ``range`` (body offsets) is the quote to mark and scroll to. */
async function openArticle(id, range, moveFocus) {
  articleError.hidden = true;
  let record;
  try {
    record = await getJson(`/v1/articles/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err instanceof ApiError && err.detail.code === "article_not_found") {
      showArticleError("This article is not in the index (it may have been deleted).");
      return;
    }
    throw err;
  }
  shown = record;
  $("article").hidden = false;
  $("delete-box").hidden = false;
  confirmBox.hidden = true;
  deleteButton.hidden = false;
  backToAnswer.hidden = !answered;
  articleTitle.textContent = record.title || "Untitled";
  const link = safeLink(record.url);
  const rows = [
    ["Source", record.source], ["Published", dateOf(record.published_at)],
    ["Authors", (record.authors || []).join(", ") || null], ["Link", link],
    ["Passages", String(record.chunks)], ["Id", record.id],
  ].filter(([, value]) => value);
  articleMeta.replaceChildren(...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  const body = record.body || "";
  const valid = range && range[0] >= 0 && range[1] > range[0] && range[1] <= body.length;
  const mark = valid ? el("mark", { className: "active", tabIndex: -1 }, body.slice(range[0], range[1])) : null;
  articleBody.replaceChildren(...(valid ? [body.slice(0, range[0]), mark, body.slice(range[1])] : [body]));
  quoteNote.hidden = !valid;
  const captions = record.captions || [];
  $("article-captions").hidden = captions.length === 0;
  $("caption-list").replaceChildren(...captions.map((c) => el("li", {}, c)));
  if (mark) {
    mark.scrollIntoView({ block: "center" });
    if (moveFocus) mark.focus({ preventScroll: true });
  } else {
    window.scrollTo(0, 0);
    if (moveFocus) articleTitle.focus();
  }
}

async function deleteShown() {
  const { id, title } = shown;
  await api(`/v1/articles/${encodeURIComponent(id)}`, { method: "DELETE" });
  const cited = answered && [...passages.values()].some((p) => p.article_id === id);
  if (cited) {
    answerEl.append(el("p", { className: "notice" }, `“${title}”, which this answer draws on, has since been deleted.`));
  }
  shown = null;
  listNotice = `Deleted “${title}”.`;
  location.hash = "#/articles";
  refreshCorpus();
}

// ---- uploads --------------------------------------------------------------------------

/** What one file's ingest did, as nodes. */
async function describeIngest(name, report) {
  const parts = [];
  if (report.added) parts.push(report.added === 1 ? "added" : `${report.added} added`);
  if (report.updated) parts.push(report.updated === 1 ? "updated" : `${report.updated} updated`);
  if (report.unchanged) parts.push(report.unchanged === 1 ? "already indexed, unchanged" : `${report.unchanged} unchanged`);
  const nodes = [el("strong", {}, name), ` — ${parts.join(", ") || "nothing indexed"}`];
  const ids = report.article_ids || [];
  if (ids.length === 1) {
    const record = await getJson(`/v1/articles/${encodeURIComponent(ids[0])}`).catch(() => null);
    nodes.push(": ", el("a", { href: articleHref(ids[0]) }, record ? record.title || "Untitled" : "open"),
      record ? el("span", { className: "hint" }, ` (${record.source}, ${plural(record.chunks, "passage")})`) : null);
  }
  const problems = [...(report.failed || []), ...(report.warnings || [])]
    .map((p) => `${p.name}: ${readable({ message: p.reason })}`);
  if (problems.length) nodes.push(el("ul", {}, ...problems.map((p) => el("li", {}, p))));
  return nodes;
}

async function uploadFiles(files) {
  const source = uploadSource.value.trim();
  for (const [i, file] of files.entries()) {
    const item = el("li", { className: "pending" }, el("strong", {}, file.name), " — uploading…");
    uploadResults.prepend(item);
    const form = new FormData();
    form.append("files", file, file.name);
    try {
      const report = await (await api(`/v1/articles${source ? `?source=${encodeURIComponent(source)}` : ""}`,
        { method: "POST", body: form })).json();
      // Class and text change together: "ok" beside "uploading…" would say done before it reads so.
      const described = await describeIngest(file.name, report);
      item.className = report.failed.length ? "warn" : "ok";
      item.replaceChildren(...described);
    } catch (err) {
      if (err instanceof KeyNeeded) {
        item.remove();
        askForKey(err, () => uploadFiles(files.slice(i)));
        break;
      }
      const failed = (err.detail && err.detail.failed) || [];
      item.className = "failed";
      item.replaceChildren(el("strong", {}, file.name), " — not indexed: ",
        failed.length ? failed.map((f) => readable({ message: f.reason })).join("; ") : err.message);
    }
  }
  refreshCorpus();
  if (document.body.dataset.view === "articles") withKey(loadArticles).catch(showListError);
}

// ---- wiring ------------------------------------------------------------------------------

askForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = question.value.trim();
  if (controller || !text) return;
  const body = { question: text, stream: true };
  try {
    const chosen = chosenFilters();
    if (chosen) body.filters = chosen;
  } catch (err) {
    filters.open = true;
    showError(err.message);
    return;
  }
  if (asOf.value) body.as_of = asOf.value;
  if (topK.value !== "") body.top_k = Number(topK.value);
  ask(body);
});

question.addEventListener("keydown", (event) => {
  // isComposing: Enter also confirms IME input (Japanese, Chinese...), which must not submit.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    askForm.requestSubmit(); // runs the inputs' validation, unlike form.submit()
  }
});

question.addEventListener("input", () => {
  const used = question.value.length, limit = question.maxLength;
  questionCount.textContent = limit > 0 && used >= limit * 0.8 ? `${used} / ${limit} characters` : "";
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (controller) stop();
  else if (!confirmBox.hidden) cancelDelete();
});

stopButton.addEventListener("click", stop);
filters.addEventListener("input", summarizeFilters);
$("clear-filters").addEventListener("click", () => {
  for (const input of [after, before, asOf, topK]) input.value = "";
  for (const box of sourceOptions.querySelectorAll("input")) box.checked = false;
  summarizeFilters();
});

answerEl.addEventListener("click", (event) => {
  const button = event.target.closest("button.cite[data-n]");
  if (button) showQuote(Number(button.dataset.n));
});

let searchTimer = null;
titleSearch.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => withKey(loadArticles).catch(showListError), 250);
});
$("article-search").addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(searchTimer);
  withKey(loadArticles).catch(showListError);
});
prevPage.addEventListener("click", () => {
  listing.offset = Math.max(0, listing.offset - PAGE_SIZE);
  withKey(loadArticles).catch(showListError);
});
nextPage.addEventListener("click", () => {
  listing.offset += PAGE_SIZE;
  withKey(loadArticles).catch(showListError);
});

fileInput.addEventListener("change", () => {
  const files = [...fileInput.files];
  fileInput.value = ""; // choosing the same file again must upload it again
  if (files.length) uploadFiles(files);
});
$("upload-form").addEventListener("submit", (event) => event.preventDefault());
// A file dropped outside the drop zone must not make the browser leave the page to open it.
for (const type of ["dragover", "drop"]) document.addEventListener(type, (event) => event.preventDefault());
dropZone.addEventListener("dragover", () => dropZone.classList.add("over"));
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  dropZone.classList.remove("over");
  const files = [...(event.dataTransfer ? event.dataTransfer.files : [])];
  if (files.length) uploadFiles(files);
});

function cancelDelete() {
  confirmBox.hidden = true;
  deleteButton.hidden = false;
  deleteButton.focus();
}
deleteButton.addEventListener("click", () => {
  if (!shown) return;
  confirmText.textContent = `Delete “${shown.title}” and its ${plural(shown.chunks, "passage")} from the index? `
    + "Answers will no longer quote it. This cannot be undone.";
  confirmBox.hidden = false;
  deleteButton.hidden = true;
  $("confirm-no").focus(); // the safe choice is the default one
});
$("confirm-no").addEventListener("click", cancelDelete);
$("confirm-yes").addEventListener("click", () => {
  withKey(deleteShown).catch((err) => showArticleError(err.message));
});

window.addEventListener("hashchange", () => route());
route(false);
refreshCorpus();
