/* A pipeline's page: the run-duration trend (Chart.js; each point opens its run)
   and the DAG of its latest run. */
"use strict";
(() => {
  const graph = document.getElementById("pipeline-graph");
  if (graph) RunDag.render(document.querySelector(".dag"), JSON.parse(graph.textContent));

  const source = document.getElementById("trend-data");
  const canvas = document.getElementById("trend-chart");
  if (!source || !canvas) return;
  const points = JSON.parse(source.textContent);
  const SHAPES = { completed: "circle", failed: "crossRot", stopped: "rect" };
  const COLOURS = { completed: "#17703a", failed: "#b3261e", stopped: "#8a5a00" };
  const chart = new Chart(canvas, {
    type: "line",
    data: {
      labels: points.map((p) => new Date(p.created_at).toLocaleString()),
      datasets: [{
        label: "Duration (s)",
        data: points.map((p) => p.duration),
        borderColor: "#1a56b3",
        pointStyle: points.map((p) => SHAPES[p.status] || "triangle"),
        pointBackgroundColor: points.map((p) => COLOURS[p.status] || "#5b6474"),
        pointBorderColor: points.map((p) => COLOURS[p.status] || "#5b6474"),
        pointRadius: 5,
        pointHoverRadius: 8,
        borderWidth: 1.5,
      }],
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: "seconds" } }, x: { ticks: { maxTicksLimit: 8 } } },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { title: (items) => points[items[0].dataIndex].name, afterLabel: (item) => points[item.dataIndex].status } },
      },
      onHover: (event, elements) => { canvas.style.cursor = elements.length ? "pointer" : "default"; },
      onClick: (event, elements) => { if (elements.length) window.location.href = points[elements[0].index].url; },
    },
  });
  canvas.dataset.points = String(chart.data.datasets[0].data.length);
})();
