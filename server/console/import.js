// An import into the table (POST /v1/tables/{t}/import, write role): a
// file of CSV, JSON lines or events sent with its upload's progress, then
// the server's answer (lines, applied, new rows, skipped, errors).

import { upload } from "./api.js";
import { bytes, fail, field, h, may, num, state, table } from "./ui.js";

const TYPES = { csv: "text/csv", ndjson: "application/x-ndjson", events: "application/x-ndjson" };

export function importBox(done) {
  if (!may("write")) return null;
  const file = h("input", { id: "imp-file", type: "file", accept: ".csv,.json,.jsonl,.ndjson,text/csv,application/x-ndjson" });
  const format = h(
    "select",
    { id: "imp-format" },
    h("option", { value: "csv" }, "CSV (user_id and fields)"),
    h("option", { value: "ndjson" }, "JSON lines (rows)"),
    h("option", { value: "events" }, "JSON lines (events)")
  );
  const onError = h("select", { id: "imp-on-error" }, h("option", { value: "abort" }, "reject all at a bad line"), h("option", { value: "skip" }, "skip bad lines"));
  const bar = h("progress", { id: "imp-progress", max: 1, value: 0, hidden: true });
  const out = h("div", { id: "imp-result" });
  async function send(ev) {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) {
      out.replaceChildren(h("div", { class: "error" }, "choose a file to import"));
      return;
    }
    bar.hidden = false;
    bar.value = 0;
    const qs = new URLSearchParams({ on_error: onError.value });
    if (format.value === "events") qs.set("format", "events");
    try {
      const a = await upload("POST", `/v1/tables/${encodeURIComponent(state.table)}/import?${qs}`, f, TYPES[format.value], (n, total) => {
        bar.max = total || 1;
        bar.value = n;
        out.textContent = n >= total ? `sent ${bytes(n)}; importing…` : `sent ${bytes(n)} of ${bytes(total)}`;
      });
      out.replaceChildren(
        h("div", { class: "notice imported" }, `imported ${f.name}: ${num(a.applied)} of ${num(a.lines)} lines applied, ${num(a.new_rows)} new rows, ${num(a.skipped)} skipped`),
        table(["lines", "applied", "new rows", "skipped", "bytes", "table rows", "elapsed_ms"], [[a.lines, a.applied, a.new_rows, a.skipped, a.bytes, a.rows, a.elapsed_ms]], { class: "import-answer" })
      );
      if (done) done();
    } catch (e) {
      fail(out, e);
    }
  }
  return h(
    "form",
    { class: "card", id: "imp-form", onsubmit: send },
    h("h3", {}, `Import into ${state.table}`),
    h("div", { class: "actions" }, field("file", file), field("format", format), field("on a bad line", onError), h("button", { id: "imp-go", type: "submit" }, "Import"), bar),
    out
  );
}
