/* A run's DAG as SVG: dagre lays it out (sized nodes never overlap), each step is a
   link to its page showing its status as colour, symbol and word. The graph zooms
   and scrolls inside its box. Data shape: dashboard/run_graph.py. Text goes in with
   textContent / setAttribute only: step names come from users. */
"use strict";
window.RunDag = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const SYMBOLS = {
    completed: "✓", cached: "↺", failed: "✕", running: "▶", retrying: "⟳", stopped: "■",
    stopping: "■", skipped: "⤼", queued: "…", pending: "…", initializing: "…",
  };
  const NODE_HEIGHT = 46;
  const MIN_WIDTH = 120;
  const MAX_WIDTH = 260;
  const PADDING = 14;
  const MIN_SCALE = 0.2;
  const MAX_SCALE = 2;

  const symbol = (status) => SYMBOLS[status] || "•";

  const svgEl = (name, attrs, parent) => {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  };

  const canvas = document.createElement("canvas").getContext("2d");
  const measure = (text, font) => { canvas.font = font; return canvas.measureText(text).width; };
  const NAME_FONT = "600 13px system-ui, sans-serif";
  const STATUS_FONT = "12px system-ui, sans-serif";
  const LABEL_FONT = "11px system-ui, sans-serif";

  /* The longest prefix of `text` (plus an ellipsis) that fits `width` pixels. */
  const fit = (text, font, width) => {
    if (measure(text, font) <= width) return text;
    let low = 0;
    let high = text.length;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (measure(text.slice(0, middle) + "…", font) <= width) low = middle; else high = middle - 1;
    }
    return text.slice(0, low) + "…";
  };

  const statusText = (step) => `${symbol(step.status)} ${step.label}`;

  function layout(data) {
    const graph = new dagre.graphlib.Graph({ multigraph: true });
    graph.setGraph({ rankdir: "LR", nodesep: 22, ranksep: 56, edgesep: 14, marginx: 12, marginy: 12 });
    graph.setDefaultEdgeLabel(() => ({}));
    for (const step of data.steps) {
      const wanted = Math.max(measure(step.name, NAME_FONT), measure(`✓ ${step.label}` + "   ", STATUS_FONT)) + 2 * PADDING;
      graph.setNode(step.name, { width: Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, Math.ceil(wanted))), height: NODE_HEIGHT, step });
    }
    for (const edge of data.edges) {
      if (!graph.hasNode(edge.source) || !graph.hasNode(edge.target)) continue;
      const label = fit(edge.label, LABEL_FONT, 160);
      graph.setEdge(edge.source, edge.target, {
        label, full: edge.label, kind: edge.kind, labelpos: "c",
        width: label ? Math.ceil(measure(label, LABEL_FONT)) + 8 : 0, height: label ? 16 : 0,
      }, `${edge.kind}:${edge.label}`);
    }
    dagre.layout(graph);
    return graph;
  }

  function path(points) {
    const [first, ...rest] = points;
    let d = `M${first.x},${first.y}`;
    if (rest.length === 1) return `${d} L${rest[0].x},${rest[0].y}`;
    // A smooth curve through dagre's bend points: quadratic segments between midpoints.
    for (let i = 0; i < rest.length - 1; i += 1) {
      const mid = { x: (rest[i].x + rest[i + 1].x) / 2, y: (rest[i].y + rest[i + 1].y) / 2 };
      d += ` Q${rest[i].x},${rest[i].y} ${mid.x},${mid.y}`;
    }
    const last = rest[rest.length - 1];
    return `${d} L${last.x},${last.y}`;
  }

  function drawNode(parent, node) {
    const step = node.step;
    const link = svgEl("a", { href: step.url, class: `dag-node status-${step.status}` }, parent);
    const title = svgEl("title", {}, link);
    const x = node.x - node.width / 2;
    const y = node.y - node.height / 2;
    svgEl("rect", { x, y, width: node.width, height: node.height, rx: 6, ry: 6 }, link);
    const name = svgEl("text", { x: x + PADDING, y: y + 19, class: "dag-name" }, link);
    name.textContent = fit(step.name, NAME_FONT, node.width - 2 * PADDING);
    const status = svgEl("text", { x: x + PADDING, y: y + 36, class: "dag-status" }, link);
    const parts = { link, title, status };
    setStatus(parts, step);
    return parts;
  }

  function setStatus(parts, step) {
    parts.link.setAttribute("class", `dag-node status-${step.status}`);
    parts.link.setAttribute("aria-label", `${step.name}: ${step.label}`);
    parts.title.textContent = `${step.name}: ${step.label}${step.attempt > 1 ? ` (attempt ${step.attempt})` : ""}`;
    parts.status.textContent = statusText(step);
  }

  function render(container, data) {
    const box = container.querySelector(".dag-box");
    const started = performance.now();
    const graph = layout(data);
    const size = graph.graph();
    const width = Math.max(1, Math.ceil(size.width || 0));
    const height = Math.max(1, Math.ceil(size.height || 0));
    const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "group", "aria-labelledby": "dag-heading" });
    const defs = svgEl("defs", {}, svg);
    const marker = svgEl("marker", {
      id: "dag-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
    }, defs);
    svgEl("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrow" }, marker);

    const edges = svgEl("g", { class: "dag-edges" }, svg);
    for (const ref of graph.edges()) {
      const edge = graph.edge(ref);
      const line = svgEl("path", { d: path(edge.points), class: `dag-edge dag-edge-${edge.kind}`, "marker-end": "url(#dag-arrow)" }, edges);
      if (edge.full) {
        svgEl("title", {}, line).textContent = `${ref.v} → ${ref.w}: ${edge.full}`;
        const label = svgEl("g", { class: "dag-edge-label" }, edges);
        svgEl("title", {}, label).textContent = edge.full;
        svgEl("rect", { x: edge.x - edge.width / 2, y: edge.y - 8, width: edge.width, height: 16, rx: 3 }, label);
        const text = svgEl("text", { x: edge.x, y: edge.y + 4, "text-anchor": "middle" }, label);
        text.textContent = edge.label;
      }
    }
    const nodes = svgEl("g", { class: "dag-nodes" }, svg);
    const byName = new Map();
    for (const name of graph.nodes()) byName.set(name, drawNode(nodes, graph.node(name)));

    box.replaceChildren(svg);
    let scale = 1;
    const zoom = (next) => {
      scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, next));
      svg.setAttribute("width", Math.round(width * scale));
      svg.setAttribute("height", Math.round(height * scale));
    };
    const fitScale = () => Math.min(1, (box.clientWidth - 4) / width, Math.max(0.5, (box.clientHeight || 480) / height));
    // Start legible: fit the width when the graph is wider than its box, but not
    // below 80 % (scroll the rest; the buttons and ctrl + wheel zoom out further).
    zoom(Math.max(0.8, Math.min(1, (box.clientWidth - 4) / width)));
    container.querySelectorAll("[data-zoom]").forEach((button) => {
      button.addEventListener("click", () => {
        const action = button.dataset.zoom;
        if (action === "in") zoom(scale * 1.25);
        else if (action === "out") zoom(scale / 1.25);
        else if (action === "fit") zoom(fitScale());
        else zoom(1);
      });
    });
    box.addEventListener("wheel", (event) => {
      if (!event.ctrlKey) return;  // plain wheel scrolls; ctrl + wheel (and pinch) zooms
      event.preventDefault();
      zoom(scale * (event.deltaY < 0 ? 1.1 : 1 / 1.1));
    }, { passive: false });
    container.dataset.renderMs = String(Math.round(performance.now() - started));

    return {
      /* Apply fresh step states (from the live endpoint) to the drawn nodes. */
      update(steps) {
        for (const step of steps) {
          const parts = byName.get(step.name);
          if (parts) setStatus(parts, step);
        }
      },
    };
  }

  return { render, symbol };
})();
