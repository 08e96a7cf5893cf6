// Vital-sign charts with uPlot. The data sits in a JSON script block (not executed, so the
// strict Content Security Policy allows it); the table on the page shows the same values.
(function () {
  "use strict";
  const source = document.getElementById("vitals-data");
  if (!source || typeof uPlot === "undefined") return;
  const data = JSON.parse(source.textContent);
  const time = data.time;
  // Axis labels on the hospital's clock (WARDBOOK_TIMEZONE), as in the table, not the
  // browser's own zone: a laptop set to UTC would otherwise be an hour out in summer.
  const zone = data.zone || "UTC";
  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), zone);
  const palette = { blue: "#005eb8", red: "#d5281b", green: "#007f3b", purple: "#330072", black: "#212b32" };
  const charts = {
    "news2": [["NEWS2", "news2", palette.black]],
    "pulse-bp": [["Heart rate", "heart_rate", palette.red], ["Systolic", "systolic", palette.blue], ["Diastolic", "diastolic", palette.purple]],
    "resp": [["Respiratory rate", "respiratory_rate", palette.green], ["SpO2", "spo2", palette.blue]],
    "temp": [["Temperature", "temperature", palette.red]],
  };
  const plots = [];
  for (const el of document.querySelectorAll("[data-chart]")) {
    const series = charts[el.dataset.chart];
    if (!series) continue;
    const opts = {
      width: Math.max(el.clientWidth - 2, 200),
      height: 220,
      series: [{}].concat(series.map(([label, , stroke]) => ({ label, stroke, width: 2, spanGaps: true, points: { show: true, size: 5 } }))),
      tzDate,
      axes: [{}, {}],
      legend: { live: false },
      cursor: { show: false },
    };
    const columns = [time].concat(series.map(([, key]) => data[key]));
    plots.push([el, new uPlot(opts, columns, el)]);
  }
  let pending = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const [el, plot] of plots) plot.setSize({ width: Math.max(el.clientWidth - 2, 200), height: 220 });
    });
  });
})();
