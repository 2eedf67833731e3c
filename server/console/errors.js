// Every script error, unhandled rejection and Content-Security-Policy
// violation is kept, so a test (or a person in the devtools) can see that
// none happened. A file of its own, not inline in index.html: the page's
// policy allows scripts from the server only.
window.__consoleErrors = [];
const consoleError = console.error.bind(console);
console.error = (...a) => {
  window.__consoleErrors.push("console.error: " + a.map(String).join(" "));
  consoleError(...a);
};
window.addEventListener("error", (e) => {
  window.__consoleErrors.push(String(e.message || e.type) + " at " + (e.filename || "?") + ":" + (e.lineno || 0));
});
window.addEventListener("unhandledrejection", (e) => {
  window.__consoleErrors.push("unhandled rejection: " + String(e.reason && (e.reason.stack || e.reason.message) || e.reason));
});
window.addEventListener("securitypolicyviolation", (e) => {
  window.__consoleErrors.push("blocked by the content security policy: " + e.violatedDirective + " " + (e.blockedURI || "inline"));
});
