// Charts, drag-to-zoom and the time picker. Every chart is a plotly figure serialised by the server
// into data-figure; zooming a chart navigates to the same page with the zoomed range in from/to,
// so every view and link keeps it.
(function () {
  "use strict";

  function isoSeconds(value) {
    // plotly reports axis ranges as "YYYY-MM-DD HH:MM:SS.sss" in the axis' (UTC) time.
    return String(value).replace(" ", "T").replace(/\.\d+$/, "") + "Z";
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
        const a = event["xaxis.range[0]"], b = event["xaxis.range[1]"];
        if (a && b) { window.location.href = withRange(isoSeconds(a), isoSeconds(b)); }
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

  document.addEventListener("DOMContentLoaded", function () { renderCharts(); wirePicker(); wireAutosave(); });
})();
