/* Charts for the artifact and metadata explorer pages, drawn with the vendored Chart.js.
   Data arrives as JSON (json_script or the metadata-points endpoint) and reaches the
   page only through Chart.js (which draws on a canvas) and textContent. */
"use strict";
(() => {
  const readJson = (id) => JSON.parse(document.getElementById(id).textContent);
  const openPoint = (points) => (event, elements) => {
    if (elements.length) window.location.assign(points[elements[0].index].url);
  };
  const pointerOnPoints = (event, elements) => {
    event.native.target.style.cursor = elements.length ? "pointer" : "default";
  };

  /* One numeric metadata key across an artifact's versions; a click opens the version. */
  function versionChart(canvas) {
    const data = readJson(canvas.dataset.source);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.points.map((p) => p.label),
        datasets: [{ label: data.key, data: data.points.map((p) => p.y), pointRadius: 4, pointHoverRadius: 6, borderColor: "#1a56b3", backgroundColor: "#1a56b3" }],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        onClick: openPoint(data.points),
        onHover: pointerOnPoints,
        scales: { x: { title: { display: true, text: "version" } }, y: { title: { display: true, text: data.key } } },
      },
    });
  }

  /* A metadata key over time, fetched from the points endpoint; a click opens the run. */
  async function explorerChart(canvas) {
    const status = document.getElementById(canvas.dataset.status);
    let points;
    try {
      const response = await fetch(canvas.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      points = (await response.json()).points;
    } catch (error) {
      status.textContent = "The chart could not be loaded; the table below lists the latest values.";
      return;
    }
    if (!points.length) {
      // An empty time axis would read 1/1/1970: say so in words instead of drawing one.
      canvas.parentElement.hidden = true;
      status.textContent = "Nothing to plot: no finite values of this key on these objects.";
      return;
    }
    status.textContent = points.length + " point" + (points.length === 1 ? "" : "s") + " plotted.";
    const dateText = (ms) => new Date(ms).toLocaleString();
    const series = points.map((p) => ({ x: Date.parse(p.x), y: p.y }));
    const times = series.map((p) => p.x);
    // Over a short span the date alone would label every tick the same.
    const short = times.length && Math.max(...times) - Math.min(...times) < 2 * 86400e3;
    const tickText = (ms) => (short ? new Date(ms).toLocaleTimeString() : new Date(ms).toLocaleDateString());
    new Chart(canvas, {
      type: "scatter",
      data: { datasets: [{ label: canvas.dataset.key, data: series, pointRadius: 3, pointHoverRadius: 6, borderColor: "#1a56b3", backgroundColor: "#1a56b3" }] },
      options: {
        maintainAspectRatio: false,
        animation: false,
        onClick: openPoint(points),
        onHover: pointerOnPoints,
        plugins: {
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? points[items[0].dataIndex].label : ""),
              label: (item) => canvas.dataset.key + " = " + item.parsed.y + " · " + dateText(item.parsed.x),
            },
          },
        },
        scales: {
          x: { type: "linear", title: { display: true, text: "time" }, ticks: { callback: tickText, maxTicksLimit: 8 } },
          y: { title: { display: true, text: canvas.dataset.key } },
        },
      },
    });
  }

  document.querySelectorAll("canvas[data-chart=versions]").forEach(versionChart);
  document.querySelectorAll("canvas[data-chart=explorer]").forEach(explorerChart);
})();
