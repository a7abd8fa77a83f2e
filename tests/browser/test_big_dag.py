"""A run of 100 steps: its DAG is legible (no node boxes overlap) and drawn in under a second."""

from __future__ import annotations

import pytest

from tests.browser import browser_pipelines as sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records when dag.js marks the graph drawn (it sets data-render-ms on .dag), in ms
# since the navigation started: server time, network, parsing, layout and drawing.
DRAWN_AT = """
new MutationObserver((changes, observer) => {
  if (document.querySelector(".dag[data-render-ms]")) {
    window.__dagDrawnAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-render-ms"] });
"""

OVERLAPS = """
() => {
  const boxes = [...document.querySelectorAll("a.dag-node rect")].map((rect) => rect.getBoundingClientRect());
  const overlaps = [];
  for (let i = 0; i < boxes.length; i += 1) {
    for (let j = i + 1; j < boxes.length; j += 1) {
      const a = boxes[i], b = boxes[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps.push([i, j]);
    }
  }
  return { count: boxes.length, overlaps, smallest: Math.min(...boxes.map((box) => box.height)) };
}
"""


def test_a_hundred_step_run_shows_every_node_apart_in_under_a_second(logged_in_page, running_worker):
    page = logged_in_page
    run = sample.hundred_steps_pipeline.with_options(wait=False)().wait(timeout=120)
    assert run.status == "completed"
    assert len(run.steps) == 100

    page.add_init_script(DRAWN_AT)
    timings = []
    # The first visit also pays for fetching and compiling the scripts; the best of
    # five keeps a busy moment of a shared machine from deciding the figure.
    for _ in range(5):
        page.goto(f"/runs/{run.id}/")
        page.wait_for_function("window.__dagDrawnAt !== undefined")
        timings.append(page.evaluate("window.__dagDrawnAt"))

    drawn = page.evaluate(OVERLAPS)
    assert drawn["count"] == 100
    assert drawn["overlaps"] == []
    # Still legible as drawn: the page starts at 80 % zoom or more.
    assert drawn["smallest"] >= 0.8 * 46 - 0.5
    print(f"100-step DAG drawn {[round(t) for t in timings]} ms after navigation started")
    assert min(timings) < 1000, f"the DAG was drawn {timings} ms after navigation started"
