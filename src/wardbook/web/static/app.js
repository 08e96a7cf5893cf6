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

start();
