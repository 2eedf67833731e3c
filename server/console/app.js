// The console's shell: who is signed in (GET /v1/whoami), the login box,
// the table picker, the navigation, and the page of the URL's hash.

import { ApiError, get, setToken, token } from "./api.js";
import { banner, explain, state } from "./ui.js";
import * as query from "./query.js";
import * as builder from "./builder.js";
import * as insight from "./insight.js";
import * as profile from "./profile.js";
import * as catalog from "./catalog.js";
import * as campaigns from "./campaigns.js";

const PAGES = { query, builder, insight, profile, catalog, campaigns };

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, qs] = hash.split("?");
  return { name: PAGES[name] ? name : "query", params: new URLSearchParams(qs || "") };
}

function showLogin(why) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-why").textContent = why;
  document.getElementById("page").replaceChildren();
  document.getElementById("who").textContent = "";
  document.getElementById("signout").hidden = !token();
  document.querySelector(".table-pick").hidden = true;
}

async function signIn() {
  try {
    state.me = await get("/v1/whoami");
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    state.me = null;
    showLogin(e.denied ? explain(e) : "The server did not answer: " + e.message);
    return false;
  }
  document.getElementById("login").hidden = true;
  document.querySelector(".table-pick").hidden = false;
  document.getElementById("who").textContent = `${state.me.name} (${state.me.role})`;
  document.getElementById("who").dataset.role = state.me.role;
  document.getElementById("signout").hidden = !token();
  try {
    state.tables = (await get("/v1/tables")).tables.map((t) => t.name);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    banner(explain(e));
    state.tables = [];
  }
  const saved = sessionStorage.getItem("segdb.table");
  state.table = state.tables.includes(saved) ? saved : state.tables.includes("users") ? "users" : state.tables[0] || "users";
  const pick = document.getElementById("table");
  pick.replaceChildren(...state.tables.map((t) => new Option(t, t, false, t === state.table)));
  return true;
}

let shown = 0;

async function show() {
  if (!state.me) return;
  const { name, params } = route();
  const n = ++shown;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("on", a.dataset.page === name);
  banner(null);
  const root = document.createElement("div");
  root.className = "page page-" + name;
  root.id = "page-" + name;
  document.getElementById("page").replaceChildren(root);
  document.title = "segdb · " + document.querySelector(`#nav a[data-page="${name}"]`).textContent;
  await PAGES[name].render(root, params);
  if (n === shown) document.body.dataset.page = name;
}

async function start() {
  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setToken(document.getElementById("token").value.trim());
    document.getElementById("token").value = "";
    if (await signIn()) await show();
  });
  document.getElementById("signout").addEventListener("click", () => {
    setToken("");
    state.me = null;
    showLogin("Signed out.");
    signIn().then((ok) => ok && show());
  });
  document.getElementById("table").addEventListener("change", (ev) => {
    state.table = ev.target.value;
    sessionStorage.setItem("segdb.table", state.table);
    show();
  });
  window.addEventListener("hashchange", show);
  if (await signIn()) await show();
  window.__consoleReady = true;
}

start();
