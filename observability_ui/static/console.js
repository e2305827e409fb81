// The interviewer console: keep live panels current without reloading the page, so a rubric
// being filled in is never lost to a refresh; ask before a form marked data-confirm is sent (here,
// not in an inline handler: the console's Content-Security-Policy runs no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  for (const panel of document.querySelectorAll("[data-live]")) {
    const refresh = async () => {
      try {
        const response = await fetch(panel.dataset.live, { credentials: "same-origin" });
        if (response.ok) panel.innerHTML = await response.text();
      } catch (error) {
        // offline for a moment: the next poll tries again
      }
    };
    setInterval(refresh, 5000);
  }
});
