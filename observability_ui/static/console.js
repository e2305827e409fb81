// The interviewer console: keep the session page's live panels (clock, figures, submissions,
// timeline) current without reloading it; keep a half-typed rubric as a draft in this browser, so
// neither a reload nor a refused save loses it; drop a hint's Undo button once its time is up;
// fetch a hint's text only when the interviewer asks
// (the safe-to-share page leaves it out); ask before a form marked data-confirm is sent (here, not in
// an inline handler: the console's Content-Security-Policy runs no inline script); reload the home
// page while a dataset is prepared, unless a form on it is half filled in.
"use strict";

function confirmForms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

function pollLivePanels() {
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
}

function peekHints() {
  for (const link of document.querySelectorAll("a[data-peek]")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const response = await fetch(link.href, { credentials: "same-origin" });
      const target = link.parentElement.querySelector("[data-peek-text]");
      if (response.ok && target) target.textContent = await response.text();
    });
  }
}

// A hint release can be undone for a few seconds, until the candidate's page shows it: the Undo
// button goes once its time is up (the server refuses a late undo anyway, saying why).
function expireUndo() {
  for (const form of document.querySelectorAll("form[data-until]")) {
    const left = Number(form.dataset.until) - Date.now();
    window.setTimeout(() => form.remove(), Math.max(0, left));
  }
}

// The draft is every named field's value (checked boxes and radios only), saved as typed and put
// back on load; the server's "#rubric-saved" after a stored score says it is no longer needed.
function keepRubricDraft() {
  const form = document.querySelector("form[data-draft]");
  if (!form) return;
  const key = form.dataset.draft;
  if (window.location.hash === "#rubric-saved") {
    window.localStorage.removeItem(key);
    window.history.replaceState(null, "", window.location.pathname + "#rubric");
  }
  const saved = window.localStorage.getItem(key);
  if (saved) {
    const values = JSON.parse(saved);
    for (const field of form.elements) {
      if (!field.name || field.type === "hidden" || !(field.name in values)) continue;
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = values[field.name].includes(field.value);
      } else {
        field.value = values[field.name][0];
      }
    }
    form.insertAdjacentHTML("afterbegin", '<p class="flag" data-testid="draft-restored">Restored your unsaved draft.</p>');
  }
  const save = () => {
    const values = {};
    for (const field of form.elements) {
      if (!field.name || field.type === "hidden") continue;
      values[field.name] = values[field.name] || [];
      if ((field.type !== "checkbox" && field.type !== "radio") || field.checked) values[field.name].push(field.value);
    }
    window.localStorage.setItem(key, JSON.stringify(values));
  };
  form.addEventListener("input", save);
  form.addEventListener("change", save);
}

// The home page while a scenario's dataset is prepared reloads itself to show how it goes, but
// never over a form the interviewer has started filling in (a new session's candidate name).
function refreshWhileUntouched() {
  const marked = document.querySelector("[data-refresh-s]");
  if (!marked) return;
  const fields = () =>
    JSON.stringify(
      Array.from(document.querySelectorAll("input, textarea, select"), (field) =>
        field.type === "checkbox" || field.type === "radio" ? field.checked : field.value,
      ),
    );
  const asLoaded = fields();
  window.setInterval(() => {
    if (fields() === asLoaded) window.location.reload();
  }, Number(marked.dataset.refreshS) * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  confirmForms();
  pollLivePanels();
  peekHints();
  expireUndo();
  keepRubricDraft();
  refreshWhileUntouched();
});
