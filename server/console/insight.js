// The Insight page: POST /v1/insight of a segment or a WHERE; ENUM, SET
// and BOOL fields as bars of the segment's share beside the table's with
// the TGI, INT fields as histograms with quantiles, EVENT fields as a line
// of active users per day; and a second segment side by side (compare).

import { get, ident, post } from "./api.js";
import { histogram, legend, line, shareBars } from "./charts.js";
import { fail, field, h, num, pct, state, table } from "./ui.js";

// The WHERE of a choice: a named segment, or the text typed.
function whereOf(seg, where) {
  if (seg) return "IN SEGMENT " + ident(seg);
  return where.trim();
}

function fieldCard(f) {
  const card = h("div", { class: "card insight-field", "data-field": f.field, "data-kind": f.kind });
  card.append(h("h3", {}, f.field, h("span", { class: "badge" }, f.kind)));
  if (f.values) {
    const rows = f.values.map((v) => ({ label: String(v.value), share: v.share, table_share: v.table_share, count: v.count, tgi: v.tgi }));
    if (f.other) rows.push({ label: "(other)", share: f.other.share, table_share: f.other.table_share, count: f.other.count, tgi: f.other.tgi ?? null });
    card.append(
      h("div", { class: "muted" }, `coverage ${pct(f.coverage.share)} of the segment (${num(f.coverage.count)}), ${pct(f.coverage.table_share)} of the table`),
      shareBars(rows)
    );
  } else if (f.histogram) {
    card.append(
      h("div", { class: "muted" }, `${num(f.count)} with a value · min ${num(f.min)} · avg ${num(f.avg)} · max ${num(f.max)} · sum ${num(f.sum)}`),
      histogram(f.histogram),
      table(
        (f.quantiles || []).map((q) => "p" + Math.round(q.q * 100)),
        [(f.quantiles || []).map((q) => q.value)],
        { class: "quantiles" }
      )
    );
  } else if (f.days) {
    card.append(
      h("div", { class: "muted" }, `${num(f.active_rows)} active (${pct(f.active_share)}) · ${num(f.total)} events · ${num(f.avg_per_active_row)} per active user · ${f.window.first} to ${f.window.last}`),
      line(f.days.map((d) => ({ label: d.day, y: d.rows })), { width: 480 }),
      f.total === 0 ? h("div", { class: "muted" }, "no events in this window: the data may end earlier (pick a day under \"events as of\")") : null
    );
  }
  return card;
}

function column(title, a) {
  return h(
    "div",
    { class: "insight-col" },
    h("h2", {}, title),
    h("div", { class: "summary" }, h("span", { class: "big seg-rows" }, num(a.segment_rows)), ` users, ${pct(a.segment_share, 2)} of ${num(a.table_rows)} · elapsed_ms ${a.elapsed_ms}`),
    a.fields.map(fieldCard)
  );
}

export async function render(root, params) {
  let segments = [];
  try {
    segments = (await get("/v1/segments")).segments.filter((s) => s.table === state.table);
  } catch (e) {
    fail(root, e);
    return;
  }
  const pick = (id, v) => h("select", { id }, h("option", { value: "" }, "(none: the WHERE)"), segments.map((s) => h("option", { value: s.name, selected: s.name === v }, s.name)));
  const segA = pick("ins-seg", params.get("segment"));
  const whereA = h("input", { id: "ins-where", size: 50, placeholder: "WHERE, e.g. city = 'c000' (empty: every row)", value: params.get("where") || "" });
  const segB = pick("ins-seg-b", params.get("versus"));
  const whereB = h("input", { id: "ins-where-b", size: 50, placeholder: "compare with: a WHERE (empty: no comparison)", value: "" });
  const fields = h("input", { id: "ins-fields", size: 40, placeholder: "fields, comma-separated (empty: all)", value: params.get("fields") || "" });
  const top = h("input", { id: "ins-top", type: "number", min: 1, value: 10, style: "width:5em" });
  const asOf = h("input", { id: "ins-asof", type: "date", value: params.get("as_of") || "" });
  const out = h("div", { id: "ins-result" });
  let seq = 0;

  async function run(ev) {
    if (ev) ev.preventDefault();
    const n = ++seq;
    const body = { table: state.table, top: Number(top.value) || 10 };
    const list = fields.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (list.length) body.fields = list;
    if (asOf.value) body.as_of = asOf.value;
    const wa = whereOf(segA.value, whereA.value);
    const wb = whereOf(segB.value, whereB.value);
    out.textContent = "…";
    let sent = wa;
    try {
      const a = await post("/v1/insight", wa ? Object.assign({ where: wa }, body) : body);
      sent = wb;
      const b = wb ? await post("/v1/insight", Object.assign({ where: wb }, body)) : null;
      if (n !== seq) return;
      const nameA = segA.value || wa || "every row";
      out.replaceChildren(legend());
      if (b) out.append(h("div", { class: "cols compare" }, column(nameA, a), column(segB.value || wb, b)));
      else out.append(column(nameA, a));
    } catch (e) {
      if (n === seq) fail(out, e, sent);
    }
  }

  root.append(
    h("h1", {}, "Insight"),
    h(
      "form",
      { class: "card", onsubmit: run },
      h("div", { class: "actions" }, field("segment", segA), field("or WHERE", whereA)),
      h("div", { class: "actions" }, field("compare with segment", segB), field("or WHERE", whereB)),
      h("div", { class: "actions" }, field("fields", fields), field("top values", top), field("events as of (default today)", asOf), h("button", { id: "ins-go", class: "primary", type: "submit" }, "Show"))
    ),
    out
  );
  if (params.get("segment") || params.get("where") || params.get("run")) await run();
}
