/* A run's timeline (waterfall): one row per step, one bar per phase (queued,
   starting, user code, saving outputs) from the phase timestamps. Phases differ by
   pattern and label as well as colour, and every bar has a tooltip. Data shape:
   dashboard/run_graph.py. DOM built with textContent only. */
"use strict";
window.RunTimeline = (() => {
  const PHASES = [
    { key: "queued", label: "Queued", from: "queued_at", to: "started_at" },
    { key: "starting", label: "Starting", from: "started_at", to: "user_code_started_at" },
    { key: "user", label: "User code", from: "user_code_started_at", to: "user_code_finished_at" },
    { key: "saving", label: "Saving outputs", from: "user_code_finished_at", to: "finished_at" },
  ];
  const LIVE = new Set(["queued", "running", "retrying"]);

  const el = (name, className, text) => {
    const node = document.createElement(name);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const time = (value) => (value ? Date.parse(value) : null);

  const seconds = (ms) => {
    const s = ms / 1000;
    if (s < 10) return `${s.toPrecision(3)} s`;
    if (s < 60) return `${Math.round(s)} s`;
    const minutes = Math.floor(s / 60);
    if (minutes < 60) return `${minutes} min ${Math.round(s % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  };

  /* [phase, start, end] for each phase the step went through; an open phase of a
     live step ends now. */
  function phasesOf(step, now) {
    const found = [];
    for (const phase of PHASES) {
      const start = time(step[phase.from]);
      if (start === null) continue;
      let end = time(step[phase.to]);
      if (end === null) {
        const later = PHASES.slice(PHASES.indexOf(phase) + 1).map((p) => time(step[p.to])).find((t) => t !== null);
        end = later !== undefined ? later : (LIVE.has(step.status) ? now : (time(step.finished_at) || start));
      }
      if (end > start) found.push([phase, start, end]);
    }
    return found;
  }

  /* Why there are no bars: cached steps run nowhere, and a finished run may have
     ended before any step was queued. */
  function emptyText(data) {
    if (data.steps.length && data.steps.every((step) => step.status === "cached")) {
      return "No bars: every step was cached, so none ran. The runs they were cached from are listed below.";
    }
    return data.finished ? "No step ran in this run." : "No step has been queued yet.";
  }

  function render(container, data) {
    const now = Date.parse(data.now) || Date.now();
    const rows = data.steps.map((step) => ({ step, phases: phasesOf(step, now) }));
    const starts = rows.flatMap((row) => row.phases.map((p) => p[1]));
    const ends = rows.flatMap((row) => row.phases.map((p) => p[2]));
    if (!starts.length) {
      container.replaceChildren(el("p", "muted", emptyText(data)));
      return;
    }
    const t0 = Math.min(...starts);
    const span = Math.max(1, Math.max(...ends) - t0);
    const pct = (t) => `${(((t - t0) / span) * 100).toFixed(3)}%`;

    const list = el("ol", "timeline-rows");
    const axis = el("li", "timeline-row timeline-axis");
    axis.setAttribute("aria-hidden", "true");
    axis.append(el("span", "timeline-name", ""));
    const ticks = el("span", "timeline-track");
    for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
      const tick = el("span", "timeline-tick", `+${seconds(span * fraction)}`);
      tick.style.left = `${fraction * 100}%`;
      ticks.append(tick);
    }
    axis.append(ticks, el("span", "timeline-total", ""));
    list.append(axis);

    for (const { step, phases } of rows) {
      const row = el("li", "timeline-row");
      const name = el("a", "timeline-name", step.name);
      name.href = step.url;
      name.title = step.name;
      const track = el("span", "timeline-track");
      const summary = [];
      for (const [phase, start, end] of phases) {
        const bar = el("span", `phase phase-${phase.key}`);
        bar.style.left = pct(start);
        bar.style.width = `max(2px, ${(((end - start) / span) * 100).toFixed(3)}%)`;
        const text = `${phase.label} ${seconds(end - start)}`;
        bar.title = `${step.name}: ${text}`;
        track.append(bar);
        summary.push(text);
      }
      track.setAttribute("role", "img");
      track.setAttribute("aria-label", `${step.name}: ${summary.join(", ") || "not started"}`);
      const total = phases.length ? phases[phases.length - 1][2] - phases[0][1] : null;
      const status = el("span", `timeline-total status status-${step.status}`,
        `${RunDag.symbol(step.status)} ${step.label}${total !== null ? ` · ${seconds(total)}` : ""}`);
      row.append(name, track, status);
      list.append(row);
    }
    container.replaceChildren(list);
  }

  return { render };
})();
