// The Insight page: POST /v1/insight of a segment or a WHERE; ENUM, SET
// and BOOL fields as bars of the segment's share beside the table's with
// the TGI, INT fields as histograms with quantiles, EVENT fields as a line
// of active users per day; and a second segment beside it: the
// language's COMPARE (POST /v1/query), its counts, shares, difference and
// TGI per value, drawn as it answers them.

import { get, ident, lit, post, query } from "./api.js";
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

// The COMPARE statement of the form's choices.
function compareText(tableName, list, wa, wb, top, asOf) {
  let t = "COMPARE " + (list.length ? list.map(ident).join(", ") + " " : "");
  t += `FROM ${ident(tableName)} WHERE (${wa}) VERSUS (${wb})`;
  if (top) t += ` TOP ${top}`;
  if (asOf) t += ` AS OF ${lit(asOf)}`;
  return t;
}

// COMPARE's answer, one card per field: its rows as it gives them.
function compared(nameA, nameB, text, a) {
  const col = Object.fromEntries((a.columns || []).map((c, i) => [c, i]));
  const byField = new Map();
  for (const r of a.rows || []) {
    const f = r[col.field];
    if (!byField.has(f)) byField.set(f, []);
    byField.get(f).push(r);
  }
  const signed = (d) => (d === null || d === undefined ? "–" : (d > 0 ? "+" : "") + (d * 100).toFixed(2) + " pp");
  return h(
    "div",
    { class: "compare" },
    h("h2", {}, h("span", { class: "side-a" }, nameA), " versus ", h("span", { class: "side-b" }, nameB)),
    h("pre", { class: "statement muted" }, text),
    [...byField].map(([f, rows]) =>
      h(
        "div",
        { class: "card compare-field", "data-field": f },
        h("h3", {}, f),
        h(
          "table",
          { class: "grid" },
          h("thead", {}, h("tr", {}, ["value", "count A", "share A", "count B", "share B", "difference", "TGI"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            rows.map((r) =>
              h(
                "tr",
                { "data-value": String(r[col.value]) },
                h("td", {}, String(r[col.value])),
                h("td", { class: "n count-a" }, num(r[col.count_a])),
                h("td", { class: "n" }, pct(r[col.share_a])),
                h("td", { class: "n count-b" }, num(r[col.count_b])),
                h("td", { class: "n" }, pct(r[col.share_b])),
                h("td", { class: "n difference" }, signed(r[col.difference])),
                h("td", { class: "n tgi" }, r[col.tgi] === null ? "–" : r[col.tgi].toFixed(1))
              )
            )
          )
        )
      )
    )
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
    const nameA = segA.value || wa || "every row";
    let sent = wa;
    try {
      if (wb) {
        // Both sides: the language's COMPARE, in one statement.
        if (!wa) {
          out.replaceChildren(h("p", { class: "muted", id: "ins-need-a" }, "COMPARE needs a first segment or WHERE to compare the second with"));
          return;
        }
        sent = compareText(state.table, list, wa, wb, body.top, body.as_of);
        const c = await query(sent);
        if (n !== seq) return;
        out.replaceChildren(compared(nameA, segB.value || wb, sent, c));
        return;
      }
      const a = await post("/v1/insight", wa ? Object.assign({ where: wa }, body) : body);
      if (n !== seq) return;
      out.replaceChildren(legend(), column(nameA, a));
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
