// The Segment builder: fields from the catalog (GET /v1/tables/{t}/fields
// ?search=), AND/OR groups with NOT, value pickers with counts (POST
// /v1/insight of the whole table), INT ranges, EVENT windows; the
// statement it makes, and a live count (POST /v1/query, debounced, the
// older request aborted and its answer never shown over a newer one).

import { get, ident, lit, post, query } from "./api.js";
import { saveBox, uploadBox } from "./builder_save.js";
import { debounce, errorView, fail, field, h, num, state } from "./ui.js";

let nextId = 1;
const group = (op = "AND") => ({ id: nextId++, type: "group", op, not: false, items: [] });

// A condition on field `f` (as the catalog gives it).
function condition(f) {
  const c = { id: nextId++, type: "cond", field: f.name, kind: f.kind, not: false };
  if (f.kind === "ENUM" || f.kind === "SET") Object.assign(c, { values: [], mode: "ANY" });
  if (f.kind === "BOOL") c.value = true;
  if (f.kind === "INT") Object.assign(c, { min: "", max: "" });
  if (f.kind === "EVENT") Object.assign(c, { mode: "count", days: 7, op: ">=", n: 1 });
  if (f.kind === "TEXT") c.text = "";
  return c;
}

// The predicate of a condition, or "" while it says nothing yet.
function condText(c) {
  const f = ident(c.field);
  let t = "";
  if (c.kind === "ENUM" && c.values.length) t = c.values.length === 1 ? `${f} = ${lit(c.values[0])}` : `${f} IN (${c.values.map(lit).join(", ")})`;
  if (c.kind === "SET" && c.values.length) t = c.values.length === 1 ? `${f} HAS ${lit(c.values[0])}` : `${f} HAS ${c.mode} (${c.values.map(lit).join(", ")})`;
  if (c.kind === "BOOL") t = c.value ? f : `NOT ${f}`;
  if (c.kind === "TEXT" && c.text !== "") t = `${f} = ${lit(c.text)}`;
  if (c.kind === "INT") {
    const lo = c.min === "" ? null : Number(c.min), hi = c.max === "" ? null : Number(c.max);
    if (lo !== null && hi !== null) t = `${f} BETWEEN ${lo} AND ${hi}`;
    else if (lo !== null) t = `${f} >= ${lo}`;
    else if (hi !== null) t = `${f} <= ${hi}`;
  }
  if (c.kind === "EVENT") {
    const w = `last ${Math.max(1, Number(c.days) || 1)} days`;
    t = c.mode === "did" ? `did(${f}, ${w})` : `count(${f}, ${w}) ${c.op} ${Number(c.n) || 0}`;
  }
  return t && c.not ? `NOT (${t})` : t;
}

// The WHERE of a group ("" for an empty one).
export function whereOf(g, top = true) {
  const parts = g.items.map((i) => (i.type === "group" ? whereOf(i, false) : condText(i))).filter(Boolean);
  if (!parts.length) return "";
  let t = parts.join(` ${g.op} `);
  if (g.not) return `NOT (${t})`;
  return !top && parts.length > 1 ? `(${t})` : t;
}

export async function render(root) {
  const tbl = state.table;
  const tree = group();
  let target = tree;
  const values = new Map(); // field → [{value, table_count}]
  const search = h("input", { id: "b-search", type: "search", placeholder: "search fields by name or description", size: 28 });
  const list = h("div", { id: "b-fields", class: "picker" });
  const canvas = h("div", { id: "b-tree" });
  const statement = h("pre", { id: "b-statement", class: "statement" });
  const count = h("span", { id: "b-count", class: "big" }, "–");
  const countNote = h("div", { id: "b-count-note", class: "muted" });
  const asOf = h("input", { id: "b-asof", type: "date" });
  let seq = 0, inFlight = null;

  const statementText = () => {
    const w = whereOf(tree);
    return `SELECT COUNT(*) FROM ${ident(tbl)}${w ? " WHERE " + w : ""}${asOf.value ? ` AS OF ${lit(asOf.value)}` : ""}`;
  };

  // The live count: each change aborts the request before it; an answer
  // is shown only if it is the newest asked.
  const recount = debounce(async () => {
    const n = ++seq;
    if (inFlight) inFlight.abort();
    const ctl = (inFlight = new AbortController());
    const text = statementText();
    countNote.textContent = "counting…";
    try {
      const a = await query(text, { signal: ctl.signal });
      if (n !== seq) return;
      count.textContent = num(a.rows[0][0]);
      count.dataset.count = a.rows[0][0];
      count.dataset.seq = n;
      countNote.replaceChildren(`users · elapsed_ms ${a.elapsed_ms}`, ...(a.warnings || []).map((w) => errorView(w, text)));
    } catch (e) {
      if (n !== seq) return;
      count.textContent = "–";
      delete count.dataset.count;
      fail(countNote, e, text);
    }
  }, 250);

  function changed() {
    statement.textContent = `SELECT FROM ${ident(tbl)}${whereOf(tree) ? " WHERE " + whereOf(tree) : ""}`;
    count.textContent = "…";
    delete count.dataset.count;
    recount();
  }

  async function valuesOf(name) {
    if (!values.has(name)) {
      const a = await post("/v1/insight", { table: tbl, fields: [name], top: 300 });
      values.set(name, a.fields[0].values || []);
    }
    return values.get(name);
  }

  function condView(c, parent) {
    const el = h("div", { class: "cond", "data-field": c.field, "data-kind": c.kind });
    const not = h("label", {}, h("input", { type: "checkbox", class: "not", checked: c.not, onchange: (e) => ((c.not = e.target.checked), changed()) }), "NOT");
    const remove = h("button", { class: "link remove", onclick: () => ((parent.items = parent.items.filter((i) => i !== c)), draw()) }, "remove");
    el.append(not, h("b", {}, c.field), h("span", { class: "badge" }, c.kind));
    if (c.kind === "ENUM" || c.kind === "SET") {
      if (c.kind === "SET") el.append(h("select", { class: "mode", onchange: (e) => ((c.mode = e.target.value), changed()) }, ["ANY", "ALL"].map((m) => h("option", { value: m, selected: c.mode === m }, "has " + m.toLowerCase()))));
      const box = h("div", { class: "values" }, "loading values…");
      const filter = h("input", { class: "value-filter", type: "search", placeholder: "filter values", size: 16 });
      filter.addEventListener("input", () => {
        const q = filter.value.trim().toLowerCase();
        for (const l of box.children) l.hidden = !!q && !l.dataset.value.toLowerCase().includes(q);
      });
      el.append(box);
      valuesOf(c.field).then(
        (vs) => {
          if (vs.length > 12) box.before(filter);
          box.replaceChildren(
            ...vs.map((v) =>
              h(
                "label",
                { "data-value": v.value },
                h("input", {
                  type: "checkbox",
                  "data-value": v.value,
                  checked: c.values.includes(v.value),
                  onchange: (e) => {
                    c.values = e.target.checked ? [...c.values, v.value] : c.values.filter((x) => x !== v.value);
                    changed();
                  },
                }),
                ` ${v.value} `,
                h("span", { class: "muted" }, num(v.table_count))
              )
            )
          );
        },
        (e) => fail(box, e)
      );
    } else if (c.kind === "BOOL") {
      el.append(h("select", { class: "bool", onchange: (e) => ((c.value = e.target.value === "true"), changed()) }, h("option", { value: "true", selected: c.value }, "true"), h("option", { value: "false", selected: !c.value }, "false")));
    } else if (c.kind === "INT") {
      const inp = (k, ph) => h("input", { type: "number", class: k, placeholder: ph, value: c[k], style: "width:7em", oninput: (e) => ((c[k] = e.target.value), changed()) });
      el.append(inp("min", "from"), "to", inp("max", "to"), h("span", { class: "muted" }, "(both ends included)"));
    } else if (c.kind === "EVENT") {
      const mode = h("select", { class: "mode", onchange: (e) => ((c.mode = e.target.value), draw()) }, h("option", { value: "count", selected: c.mode === "count" }, "count"), h("option", { value: "did", selected: c.mode === "did" }, "did"));
      el.append(mode, "in the last", h("input", { type: "number", class: "days", min: 1, value: c.days, style: "width:5em", oninput: (e) => ((c.days = e.target.value), changed()) }), "days");
      if (c.mode === "count") {
        el.append(
          h("select", { class: "op", onchange: (e) => ((c.op = e.target.value), changed()) }, [">=", ">", "=", "<=", "<", "!="].map((o) => h("option", { value: o, selected: c.op === o }, o))),
          h("input", { type: "number", class: "n", min: 0, value: c.n, style: "width:5em", oninput: (e) => ((c.n = e.target.value), changed()) })
        );
      }
    } else if (c.kind === "TEXT") {
      el.append("=", h("input", { class: "text", value: c.text, oninput: (e) => ((c.text = e.target.value), changed()) }));
    }
    el.append(remove);
    return el;
  }

  function groupView(g, parent) {
    const el = h("div", { class: "group" + (g.not ? " not" : "") + (g === target ? " target" : ""), "data-group": g.id });
    const op = h("select", { class: "op", onchange: (e) => ((g.op = e.target.value), changed()) }, h("option", { value: "AND", selected: g.op === "AND" }, "all of (AND)"), h("option", { value: "OR", selected: g.op === "OR" }, "any of (OR)"));
    el.append(
      h(
        "div",
        { class: "actions" },
        h("label", {}, h("input", { type: "checkbox", class: "group-not", checked: g.not, onchange: (e) => ((g.not = e.target.checked), draw()) }), "NOT"),
        op,
        h("button", { class: "link add-group", onclick: () => ((target = group(g.op === "AND" ? "OR" : "AND")), g.items.push(target), draw()) }, "+ group"),
        g === target ? h("span", { class: "badge" }, "fields are added here") : h("button", { class: "link target-here", onclick: () => ((target = g), draw()) }, "add fields here"),
        parent ? h("button", { class: "link remove", onclick: () => ((parent.items = parent.items.filter((i) => i !== g)), target = tree, draw()) }, "remove group") : null
      )
    );
    if (!g.items.length) el.append(h("div", { class: "muted" }, "pick a field on the left"));
    for (const i of g.items) el.append(i.type === "group" ? groupView(i, g) : condView(i, g));
    return el;
  }

  function draw() {
    canvas.replaceChildren(groupView(tree, null));
    changed();
  }

  let fseq = 0;
  async function loadFields() {
    const n = ++fseq;
    const q = search.value.trim();
    try {
      const a = await get(`/v1/tables/${encodeURIComponent(tbl)}/fields` + (q ? "?search=" + encodeURIComponent(q) : ""));
      if (n !== fseq) return;
      list.replaceChildren(
        ...a.fields.map((f) =>
          h(
            "button",
            { class: "link pick", "data-field": f.name, title: f.description || "", onclick: () => (target.items.push(condition(f)), draw()) },
            h("b", {}, f.name),
            h("span", { class: "badge" }, f.kind),
            f.description ? h("div", { class: "muted" }, f.description) : null
          )
        )
      );
    } catch (e) {
      if (n === fseq) fail(list, e);
    }
  }

  search.addEventListener("input", debounce(loadFields, 200));
  asOf.addEventListener("change", changed);
  root.append(
    h("h1", {}, "Segment builder"),
    h(
      "div",
      { class: "builder" },
      h("div", { class: "card" }, h("h3", {}, "Fields"), search, list),
      h(
        "div",
        {},
        h("div", { class: "card" }, h("div", { class: "actions" }, count, countNote), field("events as of (default today)", asOf)),
        canvas,
        h("h3", {}, "Statement"),
        statement,
        saveBox(() => statement.textContent, () => whereOf(tree)),
        uploadBox()
      )
    )
  );
  draw();
  await loadFields();
}
