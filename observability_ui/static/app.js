// Charts, drag-to-zoom, the time picker, notes and the trace waterfall's collapsible subtrees.
// Every chart is a plotly figure serialised by the server into data-figure; zooming a chart
// navigates to the same page with the zoomed range in from/to, so every view and link keeps it.
(function () {
  "use strict";

  // plotly reports a date axis' range as "YYYY-MM-DD HH:MM:SS.ssss" in the axis' (UTC) time,
  // leaving out the trailing parts that are zero ("2026-03-10 14:30", "2026-03-10").
  const PLOTLY_DATE = /^(\d{4})-(\d\d)-(\d\d)(?: (\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?)?$/;

  function epochMs(value) {
    const m = PLOTLY_DATE.exec(String(value));
    if (!m) { return NaN; }
    const whole = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0));
    return whole + Math.round(parseFloat(m[7] || "0") * 1000);
  }

  // A drag's ends as from/to: whole seconds (outwards, so all of the selection stays in view) once
  // it spans a minute, milliseconds below that, so a drag inside one second is not an empty range.
  function zoomedRange(a, b) {
    const unit = b - a >= 60000 ? 1000 : 1;
    return [Math.floor(a / unit) * unit, Math.ceil(b / unit) * unit].map(function (ms) {
      return new Date(ms).toISOString().replace(".000Z", "Z");
    });
  }

  function withRange(from, to) {
    const url = new URL(window.location.href);
    url.searchParams.set("from", from);
    url.searchParams.set("to", to);
    url.searchParams.delete("offset");
    return url.toString();
  }

  function renderCharts() {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      const figure = JSON.parse(el.getAttribute("data-figure"));
      const defaults = {
        margin: { l: 48, r: 12, t: 8, b: 28 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        font: { color: "#d8dee6", size: 11 }, showlegend: true, legend: { orientation: "h", y: -0.2 },
        xaxis: { type: "date", gridcolor: "#2a323c" }, yaxis: { gridcolor: "#2a323c", rangemode: "tozero" },
        hovermode: "x unified", dragmode: "zoom",
      };
      const given = figure.layout || {};
      // The figure's axes refine the defaults' (a y title must not drop the grid colour or rangemode).
      const layout = Object.assign({}, defaults, given, {
        xaxis: Object.assign({}, defaults.xaxis, given.xaxis || {}),
        yaxis: Object.assign({}, defaults.yaxis, given.yaxis || {}),
      });
      Plotly.newPlot(el, figure.data, layout, { displaylogo: false, responsive: true,
        modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"] });
      el.on("plotly_relayout", function (event) {
        const a = epochMs(event["xaxis.range[0]"]), b = epochMs(event["xaxis.range[1]"]);
        if (a < b) {
          const range = zoomedRange(a, b);
          window.location.href = withRange(range[0], range[1]);
        }
      });
      if (el.hasAttribute("data-click-trace")) {
        el.on("plotly_click", function (event) {
          const id = event.points && event.points[0] && event.points[0].customdata;
          if (id) { window.location.href = el.getAttribute("data-click-trace").replace("__ID__", id); }
        });
      }
    });
  }

  function wirePicker() {
    document.querySelectorAll("[data-preset]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (!select.value) { return; }
        window.location.href = withRange(select.value, "now");
      });
    });
    document.querySelectorAll("[data-toggle]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        const target = document.getElementById(link.getAttribute("data-toggle"));
        if (target) { target.hidden = !target.hidden; }
      });
    });
    // "Go back" on error pages: a script, not a javascript: URL, which the console's CSP would block
    document.querySelectorAll("[data-back]").forEach(function (link) {
      link.addEventListener("click", function (event) { event.preventDefault(); window.history.back(); });
    });
  }

  // An open interview page asks where the clock stands every few seconds and reloads itself once
  // the clock no longer runs (paused, or past the grace), so the candidate sees the waiting page
  // without reloading; the server refuses their requests then anyway.
  const CLOCK_POLL_MS = 5000;
  function watchClock() {
    const shown = document.querySelector("[data-clock]");
    if (!shown) return;
    const timer = setInterval(function () {
      fetch(shown.dataset.clock, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { clock: "refused" }; })
        .then(function (state) {
          if (state.clock === "running" || state.clock === "grace") return;
          clearInterval(timer);
          window.location.reload();
        })
        .catch(function () { /* offline for a moment: ask again at the next tick */ });
    }, CLOCK_POLL_MS);
  }

  // Scratch notes save themselves a moment after the candidate stops typing, and on submit without
  // leaving the page; the form still works as a plain POST without scripts.
  function wireAutosave() {
    document.querySelectorAll("form[data-autosave]").forEach(function (form) {
      const status = form.querySelector("[data-testid=notes-status]");
      let timer = null;
      function save() {
        clearTimeout(timer);
        fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
          .then(function (response) { status.textContent = response.ok ? "saved" : "not saved (" + response.status + ")"; })
          .catch(function () { status.textContent = "not saved (offline)"; });
      }
      form.addEventListener("input", function () { status.textContent = ""; clearTimeout(timer); timer = setTimeout(save, 1500); });
      form.addEventListener("submit", function (event) { event.preventDefault(); save(); });
    });
  }

  // The trace waterfall's subtrees: a toggle shows or hides the block of its span's descendants
  // (aria-controls), which the server renders open or collapsed. A collapsed block is
  // hidden="until-found", so find in page still reaches the spans in it and opens it.
  function setExpanded(toggle, expanded) {
    toggle.setAttribute("aria-expanded", String(expanded));
    const block = document.getElementById(toggle.getAttribute("aria-controls"));
    if (expanded) { block.removeAttribute("hidden"); } else { block.setAttribute("hidden", "until-found"); }
  }

  function wireWaterfall() {
    document.querySelectorAll(".wf-toggle").forEach(function (toggle) {
      toggle.addEventListener("click", function (event) {
        event.preventDefault(); // the toggle sits in the span's summary: do not open its details
        setExpanded(toggle, toggle.getAttribute("aria-expanded") !== "true");
      });
    });
    document.querySelectorAll("[data-expand-all]").forEach(function (button) {
      button.addEventListener("click", function () {
        const expanded = button.getAttribute("data-expand-all") === "true";
        document.querySelectorAll(".wf-toggle").forEach(function (toggle) { setExpanded(toggle, expanded); });
      });
    });
    document.addEventListener("beforematch", function (event) {
      const toggle = document.querySelector(".wf-toggle[aria-controls='" + event.target.id + "']");
      if (toggle) { toggle.setAttribute("aria-expanded", "true"); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderCharts(); wirePicker(); wireAutosave(); wireWaterfall(); watchClock();
  });
})();
