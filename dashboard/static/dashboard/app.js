/* Shared by every dashboard page. Kept tiny: pages add their own scripts. */
"use strict";
window.Dashboard = {
  /* Polls `url` for JSON and passes it to `onData` until it returns false.
     Polls every `interval` ms while the tab is visible and every `hiddenInterval`
     ms while it is hidden, and at once when the tab becomes visible again.
     `url` may be a function, called before each request (to carry an offset). */
  poll(url, onData, { interval = 1000, hiddenInterval = 10000 } = {}) {
    let timer = null;
    let stopped = false;
    const schedule = () => {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(tick, document.hidden ? hiddenInterval : interval);
    };
    const tick = async () => {
      if (stopped) return;  // a visibility change must not revive a finished poll
      try {
        const response = await fetch(typeof url === "function" ? url() : url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (response.ok && onData(await response.json()) === false) { stopped = true; return; }
      } catch (error) { /* a dropped connection: try again on the next tick */ }
      schedule();
    };
    document.addEventListener("visibilitychange", () => { if (!document.hidden) { clearTimeout(timer); tick(); } });
    tick();
    return { stop() { stopped = true; clearTimeout(timer); } };
  },
  /* Says in `note` that what the page followed has finished, with a link to reload
     the page (outputs and metadata are rendered by the server). */
  showFinished(note, text) {
    const reload = document.createElement("a");
    reload.href = window.location.pathname;
    reload.textContent = "Reload to see its outputs and metadata.";
    note.replaceChildren(`${text} `, reload);
    note.hidden = false;
  },
  /* The CSRF token for fetch() POSTs, from the form token Django rendered. */
  csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  },
};
