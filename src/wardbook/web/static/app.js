// Wardbook's only page script: starts NHS.UK frontend's components (skip link, header menu,
// error summary focus, radios' conditional reveals) and wires small enhancements. Pages work
// without it; there is no inline script anywhere (the Content Security Policy forbids it).
const self = document.querySelector("script[data-nhsuk-frontend]");
document.body.classList.add("js-enabled", "nhsuk-frontend-supported");

async function start() {
  if (self) {
    const nhsuk = await import(self.dataset.nhsukFrontend);
    nhsuk.initAll();
  }
  // Search results arrive via htmx; say how many were found through the live region.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const status = event.detail.target.querySelector("[data-status]");
    const live = document.getElementById("search-status");
    if (status && live) live.textContent = status.dataset.status;
  });
}

// WCAG 2.2.1: warn before the session's idle timeout and let the user extend it.
function sessionTimeout() {
  const dialog = document.getElementById("session-timeout");
  if (!dialog) return;
  const idle = Number(dialog.dataset.idleSeconds) * 1000;
  const lead = Math.min(120000, idle / 2);
  let warnTimer = 0;
  let endTimer = 0;
  const arm = () => {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(() => {
      dialog.hidden = false;
      document.getElementById("session-timeout-title").focus();
    }, idle - lead);
    endTimer = setTimeout(() => {
      window.location.assign("/sign-in?next=" + encodeURIComponent(window.location.pathname));
    }, idle);
  };
  document.getElementById("session-stay").addEventListener("click", async () => {
    const answer = await fetch("/session/keepalive", { credentials: "same-origin", cache: "no-store", redirect: "manual" });
    if (answer.ok) {
      dialog.hidden = true;
      arm();
    } else {
      window.location.assign("/sign-in?next=" + encodeURIComponent(window.location.pathname));
    }
  });
  document.body.addEventListener("htmx:afterRequest", arm);
  arm();
}

start();
sessionTimeout();
