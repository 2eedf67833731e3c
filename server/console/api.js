// The public HTTP API, as the console calls it: the token from
// sessionStorage as a bearer token, errors as ApiError with the API's
// code, message, line, column and hint.

const TOKEN_KEY = "segdb.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? "network" : "http_" + status);
    this.line = e.line;
    this.column = e.column;
    this.hint = e.hint;
  }
  // Whether the token is missing, wrong, or may not do this.
  get denied() {
    return this.status === 401 || this.status === 403;
  }
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const t = token();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

// Calls `method path`; `body` is sent as JSON unless a string. Answers the
// parsed JSON (or the Response itself with `raw`).
export async function api(method, path, opts = {}) {
  const h = headers(opts.headers);
  let body = opts.body;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Blob)) {
    body = JSON.stringify(body);
    h["Content-Type"] = "application/json";
  }
  let r;
  try {
    r = await fetch(path, { method, headers: h, body, signal: opts.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { error: { message: "the server did not answer: " + e.message } });
  }
  if (opts.raw && r.ok) return r;
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = null;
  }
  if (!r.ok) throw new ApiError(r.status, json || { error: { message: text || r.statusText } });
  return json;
}

export const get = (path, opts) => api("GET", path, opts);
export const post = (path, body, opts = {}) => api("POST", path, Object.assign({ body }, opts));

// The statements in `text` run by POST /v1/query.
export function query(text, opts = {}) {
  return api("POST", "/v1/query", Object.assign({ body: { query: text } }, opts));
}

// A body sent with XMLHttpRequest, for its upload progress:
// `progress(loaded, total)` as it goes. Answers the parsed JSON.
export function upload(method, path, blob, contentType, progress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, path);
    for (const [k, v] of Object.entries(headers({ "Content-Type": contentType }))) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => progress(e.loaded, e.lengthComputable ? e.total : blob.size);
    x.onerror = () => reject(new ApiError(0, { error: { message: "the upload failed (connection lost)" } }));
    x.onload = () => {
      let json = null;
      try {
        json = JSON.parse(x.responseText);
      } catch (_) {
        json = null;
      }
      if (x.status >= 200 && x.status < 300) resolve(json);
      else reject(new ApiError(x.status, json || { error: { message: x.responseText } }));
    };
    x.send(blob);
  });
}

// A response body read to the end as a Blob, `progress(bytes)` as it comes.
export async function readWithProgress(response, progress) {
  const reader = response.body.getReader();
  const parts = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
    progress(n);
  }
  return new Blob(parts, { type: response.headers.get("Content-Type") || "text/csv" });
}

// `'text'` as a string literal of the language.
export function lit(s) {
  return "'" + String(s).replace(/'/g, "''") + "'";
}

// A name as the language takes it: bare when it is a plain identifier.
export function ident(s) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? s : '"' + s.replace(/"/g, '""') + '"';
}
