/* The step page's log: while the step runs, append what the worker flushed since
   the last poll (the endpoint answers from a character offset). Text only, never
   HTML: logs come from user code. */
"use strict";
(() => {
  const log = document.getElementById("step-log");
  if (!log || log.dataset.running !== "true") return;
  let offset = Number(log.dataset.offset) || 0;
  const note = document.getElementById("step-log-note");
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  log.scrollTop = log.scrollHeight;
  Dashboard.poll(() => `${log.dataset.url}?offset=${offset}`, (data) => {
    const follow = atBottom();
    if (data.reset) log.textContent = data.text;
    else if (data.text) log.append(document.createTextNode(data.text));
    offset = data.offset;
    if (follow) log.scrollTop = log.scrollHeight;
    if (data.running) return true;
    Dashboard.showFinished(note, `The step finished (${data.status}).`);
    return false;
  }, { interval: 2000, hiddenInterval: 15000 });
})();
