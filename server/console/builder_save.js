// The builder's "Save as segment" (PUT /v1/segments/{name} with the
// definition, dynamic or snapshot) and "Upload ids" (a file of external
// ids PUT as a snapshot segment, with upload progress). Both need the
// admin role: they are shown only to it.

import { api, upload } from "./api.js";
import { bytes, errorView, fail, field, h, may, num, state } from "./ui.js";

export function saveBox(definition, where) {
  if (!may("admin")) return h("p", { class: "muted", id: "b-save-none" }, "Saving segments needs the admin role.");
  const name = h("input", { id: "b-name", placeholder: "segment name", size: 24 });
  const kind = h("select", { id: "b-kind" }, h("option", { value: "dynamic" }, "dynamic (re-evaluated)"), h("option", { value: "snapshot" }, "snapshot (today's users)"));
  const out = h("div", { id: "b-save-result" });
  async function save(ev) {
    ev.preventDefault();
    if (!where()) {
      out.replaceChildren(h("div", { class: "error" }, "add a condition first"));
      return;
    }
    const text = definition();
    try {
      const s = await api("PUT", "/v1/segments/" + encodeURIComponent(name.value.trim()), { body: { definition: text, snapshot: kind.value === "snapshot" } });
      out.replaceChildren(h("div", { class: "notice saved" }, `saved ${s.kind} segment `, h("a", { href: "#/insight?segment=" + encodeURIComponent(s.name) }, s.name), s.rows === null || s.rows === undefined ? "" : ` (${num(s.rows)} users)`));
    } catch (e) {
      fail(out, e, text);
    }
  }
  return h("form", { class: "card", id: "b-save", onsubmit: save }, h("h3", {}, "Save as segment"), h("div", { class: "actions" }, field("name", name), field("kind", kind), h("button", { id: "b-save-go", class: "primary", type: "submit" }, "Save")), out);
}

export function uploadBox() {
  if (!may("admin")) return null;
  const name = h("input", { id: "u-name", placeholder: "segment name", size: 24 });
  const file = h("input", { id: "u-file", type: "file", accept: ".csv,.txt,text/csv,text/plain" });
  const bar = h("progress", { id: "u-progress", max: 1, value: 0, hidden: true });
  const out = h("div", { id: "u-result" });
  async function send(ev) {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) {
      out.replaceChildren(h("div", { class: "error" }, "choose a file of ids (CSV with a user_id column, or one id per line)"));
      return;
    }
    bar.hidden = false;
    const type = /\.csv$/i.test(f.name) ? "text/csv" : "text/plain";
    try {
      const s = await upload("PUT", `/v1/segments/${encodeURIComponent(name.value.trim())}?table=${encodeURIComponent(state.table)}`, f, type, (n, total) => {
        bar.max = total || 1;
        bar.value = n;
        out.textContent = `sent ${bytes(n)} of ${bytes(total)}`;
      });
      out.replaceChildren(
        h(
          "div",
          {},
          h("div", { class: "notice uploaded" }, `snapshot segment ${s.name}: ${num(s.rows)} users`),
          s.unknown_ids ? errorView({ code: "unknown_ids", message: `ids not in the table: ${num(s.unknown_ids)} (e.g. ${(s.unknown || []).slice(0, 5).join(", ")})` }) : null
        )
      );
    } catch (e) {
      fail(out, e);
    }
  }
  return h("form", { class: "card", id: "u-form", onsubmit: send }, h("h3", {}, "Upload ids as a snapshot segment"), h("div", { class: "actions" }, field("name", name), field("file", file), h("button", { id: "u-go", type: "submit" }, "Upload"), bar), out);
}
