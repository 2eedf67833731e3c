// The Campaigns page: the list with each state (GET /v1/campaigns); a
// campaign's detail with its funnel per variant against the hold-out
// (GET /v1/campaigns/{name}/report: sent → delivered → clicked →
// converted), the goal's uplift, and the actions its state allows that
// the signed-in role may use (POST /v1/campaigns/{name}/{action}).

import { get, post } from "./api.js";
import { fail, h, may, num, pct, state, table } from "./ui.js";

// What each action needs, and the states it is offered in.
const ACTIONS = [
  { action: "start", role: "write", states: ["draft"] },
  { action: "approve", role: "admin", states: ["pending_approval"] },
  { action: "pause", role: "write", states: ["scheduled", "running"] },
  { action: "resume", role: "write", states: ["paused"] },
  { action: "cancel", role: "write", states: ["draft", "pending_approval", "scheduled", "running", "paused"] },
];

const STEPS = ["sent", "delivered", "clicked", "converted"];

function funnel(run) {
  const rows = run.groups.map((g) => {
    const counts = { sent: g.sent, delivered: g.users.delivered || 0, clicked: g.users.clicked || 0, converted: g.users.converted || 0 };
    const base = Math.max(1, g.holdout ? g.audience : g.sent);
    return h(
      "tr",
      { class: "group-row", "data-group": g.group },
      h("td", {}, g.holdout ? h("i", {}, "hold-out") : h("b", {}, g.group)),
      h("td", { class: "n" }, num(g.audience)),
      STEPS.map((s) =>
        h(
          "td",
          { class: "bar" },
          h("div", { class: "fill", style: `width:${Math.round((100 * counts[s]) / base)}%` }),
          g.holdout && s !== "converted" ? h("span", { class: "muted" }, "–") : `${num(counts[s])} (${pct(counts[s] / base)})`
        )
      ),
      h("td", { class: "n" }, g.goal ? `${pct(g.goal.rate.hits / Math.max(1, g.goal.rate.n), 2)} (${num(g.goal.rate.hits)} of ${num(g.goal.rate.n)})` : "–"),
      h(
        "td",
        { class: "n uplift" },
        g.goal && g.goal.uplift
          ? `${g.goal.uplift.diff >= 0 ? "+" : ""}${pct(g.goal.uplift.diff, 2)} [${pct(g.goal.uplift.ci_low, 2)}, ${pct(g.goal.uplift.ci_high, 2)}]${g.goal.uplift.p_value === null ? "" : " p=" + g.goal.uplift.p_value.toFixed(3)}`
          : "–"
      )
    );
  });
  return h(
    "table",
    { class: "grid funnel" },
    h("thead", {}, h("tr", {}, ["group", "audience", ...STEPS, "goal", "uplift over hold-out"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows)
  );
}

async function detail(root, name, back) {
  root.textContent = "…";
  try {
    const [c, r] = await Promise.all([get("/v1/campaigns/" + encodeURIComponent(name)), get(`/v1/campaigns/${encodeURIComponent(name)}/report`)]);
    // The creator may not approve their own campaign.
    const mayDo = (a) => may(a.role) && !(a.action === "approve" && state.me.name === c.created_by);
    const buttons = ACTIONS.filter((a) => a.states.includes(c.state) && mayDo(a)).map((a) =>
      h(
        "button",
        {
          class: "act act-" + a.action + (a.action === "cancel" ? "" : " primary"),
          onclick: async () => {
            try {
              await post(`/v1/campaigns/${encodeURIComponent(name)}/${a.action}`);
              await detail(root, name, back);
            } catch (e) {
              fail(msg, e);
            }
          },
        },
        a.action
      )
    );
    const msg = h("div", { id: "c-action-result" });
    root.replaceChildren(h(
      "div",
      { class: "campaign" },
      h("button", { class: "link", onclick: back }, "← all campaigns"),
      h("h2", { id: "c-title" }, c.name + " ", h("span", { class: "badge state" }, c.state)),
      h("div", { class: "muted" }, `table ${c.table} · kind ${c.kind} · priority ${c.priority} · created by ${c.created_by} at ${c.created_at}${c.next_run_at ? " · next run " + c.next_run_at : ""}`),
      h("div", { class: "actions", id: "c-actions" }, buttons.length ? buttons : h("span", { class: "muted" }, "no action your role may take in this state")),
      msg,
      r.goal ? h("p", {}, "goal: ", h("code", {}, r.goal)) : null,
      r.runs.length
        ? r.runs.map((run) => h("div", { class: "card run" }, h("h3", {}, `run ${run.run} on ${run.day}: ${num(run.audience)} users, ${num(run.capped)} capped`), funnel(run)))
        : h("p", { class: "muted" }, "no run yet"),
      h("h3", {}, "History"),
      table(["at", "actor", "action", "from", "to"], (c.history || []).map((e) => [e.at, e.actor, e.action, e.from || "", e.to || ""]))
    ));
  } catch (e) {
    fail(root, e);
  }
}

export async function render(root, params) {
  const body = h("div", { id: "c-body" });
  root.append(h("h1", {}, "Campaigns"), body);
  const list = async () => {
    location.hash = "#/campaigns";
  };
  if (params.get("name")) return detail(body, params.get("name"), list);
  try {
    const a = await get("/v1/campaigns");
    const mine = a.campaigns.filter((c) => c.table === state.table);
    body.replaceChildren(
      mine.length
        ? table(
            ["campaign", "state", "kind", "priority", "created by", "next run", "runs"],
            mine.map((c) => [h("a", { href: "#/campaigns?name=" + encodeURIComponent(c.name), class: "c-link" }, c.name), c.state, c.kind, c.priority, c.created_by, c.next_run_at || "", Array.isArray(c.runs) ? c.runs.length : c.runs])
          )
        : h("p", { class: "muted" }, `no campaign on ${state.table} yet (see the README's "Campaigns")`)
    );
  } catch (e) {
    fail(body, e);
  }
}
