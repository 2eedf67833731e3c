// The Query page: statements in an editor, run by POST /v1/query; the
// answer as tables with elapsed_ms, warnings, errors with their caret, a
// history in localStorage, and CSV download (Accept: text/csv) with
// progress.

import { api, query, readWithProgress } from "./api.js";
import { bytes, download, errorView, fail, h, num, state, table } from "./ui.js";

const HISTORY_KEY = "segdb.history";
const HISTORY_MAX = 50;

function history() {
  try {
    return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
  } catch (_) {
    return [];
  }
}

function remember(text) {
  const list = [text, ...history().filter((t) => t !== text)].slice(0, HISTORY_MAX);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list));
}

// One statement's answer: its table, or its count of rows.
function answerView(a) {
  const rows = a.rows || [];
  return h(
    "div",
    { class: "answer" },
    table(a.columns || [], rows, { class: "result" }),
    h("div", { class: "muted" }, `${num(rows.length)} row${rows.length === 1 ? "" : "s"}`)
  );
}

export function render(root, params) {
  const editor = h("textarea", { id: "q-editor", class: "editor", rows: 6, spellcheck: "false" });
  editor.value = params.get("q") || history()[0] || `SELECT COUNT(*) FROM ${state.table}`;
  const out = h("div", { id: "q-result", class: "result-area" });
  const meta = h("div", { id: "q-meta", class: "meta" });
  const hist = h("ol", { id: "q-history", class: "history" });
  let running = null;

  function drawHistory() {
    hist.replaceChildren(
      ...history().map((t) =>
        h("li", {}, h("button", { class: "link", title: t, onclick: () => ((editor.value = t), editor.focus()) }, t.length > 90 ? t.slice(0, 90) + "…" : t))
      )
    );
  }

  async function run() {
    const text = editor.value;
    if (!text.trim()) return;
    if (running) running.abort();
    const ctl = (running = new AbortController());
    meta.textContent = "running…";
    remember(text);
    drawHistory();
    try {
      const a = await query(text, { signal: ctl.signal });
      if (ctl !== running) return;
      const parts = a.results ? a.results : [a];
      out.replaceChildren(...parts.map(answerView));
      const warnings = (a.warnings || []).map((w) => h("div", { class: "warning" }, errorView(w, text)));
      out.append(...warnings);
      meta.replaceChildren(h("span", { id: "q-elapsed" }, `elapsed_ms ${a.elapsed_ms}`));
    } catch (e) {
      if (ctl !== running) return;
      meta.textContent = "";
      fail(out, e, text);
    }
  }

  async function csv() {
    const text = editor.value;
    const prog = h("span", { id: "q-progress" }, "starting export…");
    meta.replaceChildren(prog);
    try {
      const r = await api("POST", "/v1/query", { body: { query: text }, headers: { Accept: "text/csv" }, raw: true });
      const blob = await readWithProgress(r, (n) => (prog.textContent = `received ${bytes(n)}…`));
      prog.textContent = `downloaded ${bytes(blob.size)}`;
      download(blob, "segdb-export.csv");
    } catch (e) {
      meta.textContent = "";
      if (e instanceof TypeError) out.replaceChildren(h("div", { class: "error" }, "the export broke off: " + e.message + " (the file is incomplete and was not saved)"));
      else fail(out, e, text);
    }
  }

  editor.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  drawHistory();
  root.append(
    h("h1", {}, "Query"),
    h("p", { class: "muted" }, "Statements of the query language (see the README). Ctrl+Enter runs them."),
    editor,
    h(
      "div",
      { class: "actions" },
      h("button", { id: "q-run", class: "primary", onclick: run }, "Run"),
      h("button", { id: "q-csv", onclick: csv, title: "the answer as CSV (Accept: text/csv); a SELECT user_id … is streamed whatever its size" }, "Download CSV"),
      meta
    ),
    out,
    h("h2", {}, "History"),
    hist
  );
  if (params.get("run")) run();
}
