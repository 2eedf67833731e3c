// What every page shares: building elements, numbers for people, the
// error banner, an error with its caret, tables, and who is signed in.

// The signed-in principal ({name, role, …}) and the table in use.
export const state = { me: null, table: "users", tables: [] };

const RANK = { read: 1, write: 2, admin: 3 };

// Whether the signed-in role is at least `role`.
export function may(role) {
  return !!state.me && (RANK[state.me.role] || 0) >= RANK[role];
}

// An element: h("div", {class: "x", onclick: f}, "text", child, [more]).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const INT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const DEC = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

// 1234567 → "1,234,567"; a string (a big sum) is grouped as digits.
export function num(n) {
  if (n === null || n === undefined) return "–";
  if (typeof n === "string") return /^-?\d+$/.test(n) ? n.replace(/\B(?=(\d{3})+(?!\d))/g, ",") : n;
  return Number.isInteger(n) ? INT.format(n) : DEC.format(n);
}

// 0.4821 → "48.2%".
export function pct(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(share)) return "–";
  return (share * 100).toFixed(digits) + "%";
}

// A value of a row or a field as text.
export function show(v) {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number") return num(v);
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// The banner at the top: an error or a notice; `null` hides it.
export function banner(msg, kind = "error") {
  const b = document.getElementById("banner");
  if (!msg) {
    b.hidden = true;
    b.textContent = "";
    return;
  }
  b.hidden = false;
  b.className = "banner " + kind;
  b.textContent = msg;
}

// What to say for an error of the API: 401 and 403 are said plainly.
// (The hint is left to the caller with `withHint` false.)
export function explain(e, withHint = true) {
  if (e.status === 401) return `Not signed in or the token is not valid (${e.message}). Paste a token to sign in.`;
  if (e.status === 403) return `Your token may not do this: ${e.message}`;
  return e.message + (withHint && e.hint ? ` (${e.hint})` : "");
}

// An error box; with `source` (the text sent) and a line and column, the
// line quoted with a caret under the column.
export function errorView(e, source) {
  const box = h("div", { class: "error", role: "alert" });
  box.append(h("div", { class: "error-head" }, h("code", {}, e.code || "error"), " ", explain(e, false)));
  if (source && e.line && e.column) {
    const line = source.split("\n")[e.line - 1];
    if (line !== undefined) {
      const caret = " ".repeat(Math.max(0, e.column - 1)) + "^";
      box.append(h("pre", { class: "caret" }, line + "\n" + caret));
    }
    box.append(h("div", { class: "muted" }, `line ${e.line}, column ${e.column}`));
  }
  if (e.hint) box.append(h("div", { class: "hint" }, "hint: " + e.hint));
  return box;
}

// Shows `e` in `where` (and 401/403 in the banner too); rethrows what is
// not an API error (a bug), so it is seen.
export function fail(where, e, source) {
  if (e && e.name === "AbortError") return;
  if (!(e && "status" in e)) throw e;
  if (e.denied) banner(explain(e));
  if (where) where.replaceChildren(errorView(e, source));
}

// A table of `columns` and `rows` (arrays), numbers right-aligned.
export function table(columns, rows, opts = {}) {
  return h(
    "table",
    { class: "grid " + (opts.class || "") },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h("tr", {}, r.map((v) => (v instanceof Node ? h("td", {}, v) : h("td", { class: typeof v === "number" ? "n" : "" }, show(v)))))
      )
    )
  );
}

// `f` run `ms` after the last call.
export function debounce(f, ms) {
  let t = null;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => f(...a), ms);
  };
}

// A Blob saved as `name` by the browser.
export function download(blob, name) {
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// A labelled field.
export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

// A byte count for people: "1.2 MB".
export function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}
