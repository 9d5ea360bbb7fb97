/* The pages' behaviour (D3, D4): charts drawn with Chart.js from the JSON each page serves, the
   period picker's fields, and the dashboard switcher. Runs on load and on every htmx swap. */
(function () {
  "use strict";

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Numbers as the tables write them, in the page's language (issue 18): "45 000 000" and
  // "4 552 511,94" in Russian, "45,000,000" and "4,552,511.94" in English. Django groups with a
  // no-break space where Intl uses a narrow one: the same space here.
  function numberFormat(decimals, fixed) {
    const language = document.documentElement.lang || "en";
    const format = new Intl.NumberFormat(language, {
      minimumFractionDigits: fixed ? decimals : 0,
      maximumFractionDigits: decimals,
    });
    return function (value) {
      return value === null || value === undefined ? "—" : format.format(value).replace(/\u202f/g, "\u00a0");
    };
  }

  function options(decimals) {
    const ink = css("--muted"), line = css("--line");
    const tick = numberFormat(decimals, false), exact = numberFormat(decimals, true);
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      locale: document.documentElement.lang || "en",
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { labels: { color: ink, boxWidth: 14 } },
        tooltip: {
          callbacks: {
            label: function (item) { return item.dataset.label + ": " + exact(item.parsed.y); },
          },
        },
      },
      scales: {
        x: { ticks: { color: ink, maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { color: line } },
        y: { beginAtZero: true, ticks: { color: ink, callback: function (value) { return tick(value); } }, grid: { color: line } },
      },
    };
  }

  const builders = {
    trend(canvas, data) {
      return {
        type: "bar",
        data: {
          labels: data.trend.labels,
          datasets: [
            { type: "bar", label: canvas.dataset.labelActual, data: data.trend.actual, backgroundColor: css("--accent"), borderRadius: 4 },
            { type: "line", label: canvas.dataset.labelTarget, data: data.trend.target, borderColor: css("--amber"), backgroundColor: css("--amber"), borderDash: [6, 4], pointRadius: 3, spanGaps: false },
          ],
        },
      };
    },
    pacing(canvas, data) {
      return {
        type: "line",
        data: {
          labels: data.pacing.labels,
          datasets: [
            { label: canvas.dataset.labelActual, data: data.pacing.actual, borderColor: css("--accent"), backgroundColor: css("--accent"), pointRadius: 0, borderWidth: 2.5 },
            { label: canvas.dataset.labelExpected, data: data.pacing.expected, borderColor: css("--muted"), backgroundColor: css("--muted"), borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5 },
          ],
        },
      };
    },
    rating(canvas, data) {
      return {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: [{ label: canvas.dataset.label, data: data.points, backgroundColor: css("--green"), borderRadius: 4 }],
        },
      };
    },
  };

  function drawCharts(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      const source = document.getElementById(canvas.dataset.source);
      if (!source) return;
      const existing = Chart.getChart(canvas);
      if (existing) existing.destroy();
      const data = JSON.parse(source.textContent);
      const config = builders[canvas.dataset.chart](canvas, data);
      config.options = options(data.decimals === undefined ? 2 : data.decimals);
      new Chart(canvas, config);
    });
  }

  // A tile's sparkline (issue 18): the KPI's figure over the last periods, no axes, the values
  // in the tooltip. The figures of every tile come in one JSON block, by KPI id.
  function drawSparklines(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-spark]").forEach(function (canvas) {
      const source = document.getElementById(canvas.dataset.source);
      if (!source) return;
      const series = JSON.parse(source.textContent)[canvas.dataset.spark];
      if (!series) return;
      const existing = Chart.getChart(canvas);
      if (existing) existing.destroy();
      new Chart(canvas, {
        type: "line",
        data: {
          labels: series.labels,
          datasets: [{ data: series.values, borderColor: css("--accent"), backgroundColor: css("--accent"), borderWidth: 2, pointRadius: 2, spanGaps: true, tension: 0.25 }],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          plugins: { legend: { display: false }, tooltip: { displayColors: false } },
          interaction: { mode: "index", intersect: false },
          scales: { x: { display: false }, y: { display: false, beginAtZero: true } },
        },
      });
    });
  }

  // Only the chosen kind's fields are sent: period and date, or period=custom with from and to.
  function periodForms(root) {
    root.querySelectorAll("form[data-period-form]").forEach(function (form) {
      const select = form.querySelector("select[name=period]");
      function sync() {
        const custom = select.value === "custom";
        form.querySelectorAll("[data-for]").forEach(function (label) {
          const on = (label.dataset.for === "custom") === custom;
          label.hidden = !on;
          label.querySelectorAll("input").forEach(function (input) { input.disabled = !on; });
        });
      }
      select.addEventListener("change", sync);
      sync();
    });
  }

  function navigators(root) {
    root.querySelectorAll("select[data-navigate]").forEach(function (select) {
      select.addEventListener("change", function () { window.location.href = select.value; });
    });
  }

  function init(root) {
    drawCharts(root);
    drawSparklines(root);
    periodForms(root);
    navigators(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    document.body.addEventListener("htmx:load", function (event) {
      if (event.target !== document.body) init(event.target);
    });
  });
})();
