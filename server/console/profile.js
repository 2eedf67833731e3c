// The Profile page: one external id (GET /v1/tables/{t}/profiles/{id}),
// every field, its events per day as small charts, its segments and the
// campaigns it was in; fields the role may not see come back
// "[redacted]" and are shown so.

import { get } from "./api.js";
import { line } from "./charts.js";
import { fail, field, h, num, state, table } from "./ui.js";

function days(ev, window) {
  const out = [];
  if (!window) return out;
  const d = new Date(window.first + "T00:00:00Z");
  const last = new Date(window.last + "T00:00:00Z");
  for (; d <= last; d.setUTCDate(d.getUTCDate() + 1)) {
    const k = d.toISOString().slice(0, 10);
    out.push({ label: k, y: (ev.days && ev.days[k]) || 0 });
  }
  return out;
}

function value(name, v, p) {
  if (v === "[redacted]" || (p.redacted || []).includes(name)) return h("span", { class: "redacted" }, "[redacted]");
  if (v === null || v === undefined) return h("span", { class: "muted" }, "NULL");
  if (Array.isArray(v)) return v.length ? v.join(", ") : h("span", { class: "muted" }, "(none)");
  if (typeof v === "number") return num(v);
  return String(v);
}

// The runs of the campaigns (that the role may read) which held the
// user, newest first: the group the run put them in, when the message
// left, what they did with it.
function campaigns(p) {
  const runs = p.campaigns || [];
  const more = p.campaign_runs && p.campaign_runs.total > p.campaign_runs.read;
  return h(
    "div",
    {},
    h("h3", {}, "Campaigns"),
    runs.length
      ? table(
          ["campaign", "run", "variant", "sent", "effects"],
          runs.map((c) => [
            h("a", { href: "#/campaigns?name=" + encodeURIComponent(c.campaign) }, c.campaign),
            `${c.run} (${c.run_day})`,
            c.holdout ? h("span", { class: "badge" }, "hold-out") : c.group,
            c.sent ? c.sent_day : h("span", { class: "muted" }, c.holdout ? "no (held out)" : "no"),
            c.effects.length ? c.effects.join(", ") : h("span", { class: "muted" }, "none"),
          ]),
          { class: "profile-campaigns" }
        )
      : h("p", { class: "muted" }, "in no campaign's audience"),
    more ? h("p", { class: "muted" }, `only the newest ${p.campaign_runs.read} of ${p.campaign_runs.total} campaign runs were read`) : null
  );
}

export async function render(root, params) {
  const id = h("input", { id: "prof-id", placeholder: "external id, e.g. u000000042", size: 30, value: params.get("id") || "" });
  const asOf = h("input", { id: "prof-asof", type: "date", value: params.get("as_of") || "" });
  const out = h("div", { id: "prof-result" });
  let seq = 0;

  async function look(ev) {
    if (ev) ev.preventDefault();
    const n = ++seq;
    if (!id.value.trim()) return;
    out.textContent = "…";
    const qs = asOf.value ? "?as_of=" + asOf.value : "";
    try {
      const p = await get(`/v1/tables/${encodeURIComponent(state.table)}/profiles/${encodeURIComponent(id.value.trim())}${qs}`);
      if (n !== seq) return;
      const plain = [], events = [];
      for (const [k, v] of Object.entries(p.fields)) {
        if (v && typeof v === "object" && !Array.isArray(v) && "total" in v) events.push([k, v]);
        else plain.push([h("span", {}, k, (p.derived || []).includes(k) ? h("span", { class: "badge" }, "derived") : null), value(k, v, p)]);
      }
      out.replaceChildren(h(
        "div",
        {},
        h("h2", { id: "prof-title" }, `${p.id}`, h("span", { class: "muted" }, ` row ${num(p.row)} of ${p.table}`)),
        p.redacted && p.redacted.length ? h("p", { class: "redacted-note" }, h("span", { class: "redacted" }, "[redacted]"), ` ${p.redacted.length} field(s) your role may not see: ${p.redacted.join(", ")}`) : null,
        h(
          "div",
          { class: "cols" },
          h("div", {}, h("h3", {}, "Fields"), table(["field", "value"], plain, { class: "profile-fields" })),
          h(
            "div",
            {},
            h("h3", {}, `Events per day, ${p.window.first} to ${p.window.last}`),
            events.length
              ? events.map(([k, v]) =>
                  h("div", { class: "card event", "data-field": k }, h("b", {}, k), ` ${num(v.total)} in the window`, line(days(v, p.window), { small: true, width: 420 }))
                )
              : h("p", { class: "muted" }, "no EVENT fields"),
            h("h3", {}, "Segments"),
            p.segments && p.segments.length
              ? h("ul", { id: "prof-segments" }, p.segments.map((s) => h("li", {}, h("a", { href: "#/insight?segment=" + encodeURIComponent(s.name) }, s.name), h("span", { class: "badge" }, s.kind))))
              : h("p", { class: "muted" }, "in no named segment"),
            campaigns(p)
          )
        )
      ));
    } catch (e) {
      if (n === seq) fail(out, e);
    }
  }

  root.append(
    h("h1", {}, "Profile"),
    h("form", { class: "actions", onsubmit: look }, field("external id", id), field("as of (default today)", asOf), h("button", { id: "prof-go", class: "primary", type: "submit" }, "Look up")),
    out
  );
  if (id.value) await look();
}
