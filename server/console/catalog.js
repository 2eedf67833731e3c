// The Tag catalog: every field of the table (GET /v1/tables/{t}/fields,
// ?search= as you type) with its kind, description, category, coverage
// and number of values; for a writer, an import into the table with its
// progress (import.js).

import { get } from "./api.js";
import { importBox } from "./import.js";
import { debounce, fail, h, num, pct, state, table } from "./ui.js";

// A field's name with its badges.
export function fieldName(f) {
  return h("span", {}, h("b", {}, f.name), f.sensitive ? h("span", { class: "badge sensitive" }, "SENSITIVE") : null);
}

export async function render(root) {
  const search = h("input", { id: "cat-search", type: "search", placeholder: "search name, description, category, owner", size: 40 });
  const out = h("div", { id: "cat-result" });
  const count = h("span", { class: "muted" });
  let seq = 0;

  async function load() {
    const n = ++seq;
    const q = search.value.trim();
    try {
      const a = await get(`/v1/tables/${encodeURIComponent(state.table)}/fields` + (q ? "?search=" + encodeURIComponent(q) : ""));
      if (n !== seq) return;
      count.textContent = `${num(a.fields.length)} field${a.fields.length === 1 ? "" : "s"} of ${num(a.rows)} rows`;
      out.replaceChildren(
        table(
          ["field", "kind", "description", "category", "coverage", "rows with a value", "values", "owner", "source"],
          a.fields.map((f) => [
            fieldName(f),
            f.kind,
            f.description || "",
            f.category || "",
            pct(f.coverage),
            f.rows_with_value,
            f.values === undefined || f.values === null ? "" : f.values,
            f.owner || "",
            f.source || "",
          ]),
          { class: "catalog" }
        )
      );
    } catch (e) {
      if (n === seq) fail(out, e);
    }
  }

  search.addEventListener("input", debounce(load, 200));
  root.append(h("h1", {}, "Tag catalog"), h("div", { class: "actions" }, search, count), out, importBox(load));
  await load();
}
