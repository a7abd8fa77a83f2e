/* The run page: draws the DAG and timeline, then follows the run live by polling
   its small JSON endpoint (slower while the tab is hidden) until it finishes. */
"use strict";
(() => {
  const source = document.getElementById("run-graph");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const dag = RunDag.render(document.querySelector(".dag"), data);
  const timeline = document.getElementById("timeline");
  RunTimeline.render(timeline, data);
  if (data.finished) return;

  const badge = (state) => {
    const span = document.createElement("span");
    span.className = `status status-${state.status}`;
    const mark = document.createElement("span");
    mark.setAttribute("aria-hidden", "true");
    mark.textContent = RunDag.symbol(state.status);
    span.append(mark, ` ${state.label}`);
    return span;
  };

  let revision = data.revision;
  let status = data.status;
  const url = document.getElementById("run-live").dataset.url;
  Dashboard.poll(url, (state) => {
    if (state.revision !== revision || state.status !== status) {
      revision = state.revision;
      dag.update(state.steps);
    }
    if (state.status !== status) {
      status = state.status;
      document.getElementById("run-status").replaceChildren(badge(state));
    }
    RunTimeline.render(timeline, state);  // running bars grow even when nothing else changed
    if (!state.finished) return true;
    const stop = document.getElementById("stop-form");
    if (stop) stop.remove();
    Dashboard.showFinished(document.getElementById("run-live-note"), `The run finished: ${state.label.toLowerCase()}.`);
    return false;
  }, { interval: 1500, hiddenInterval: 15000 });
})();
