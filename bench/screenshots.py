"""Screenshots of the dashboard's main pages for the README, from a fresh demo.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots] [--keep]

Starts `manage.py demo` (web server, worker, the examples) in a temporary data
folder, adds a few runs of `training_pipeline` (a model trained run after run, with
metadata) and one of `live_pipeline` from tests/browser/browser_pipelines.py, logs
in through the login form in headless Chromium (PIPELINES_CHROMIUM, default
/usr/bin/chromium) and saves 1280 px wide PNGs of the main pages. Stops the demo at
the end. Not part of the test run: the images change only when this is run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import REPO, free_port, log

from pipelines.supervisor import Child, ChildExited, Supervisor

READY_TIMEOUT = 600
# Boxes whose content is wider than they are (they scroll sideways on their own).
SIDEWAYS_BOXES = """
[...document.querySelectorAll("main *")]
  .filter((el) => el.clientWidth > 1 && el.scrollWidth > el.clientWidth + 1)
  .filter((el) => getComputedStyle(el).overflowX !== "visible")
  .map((el) => `${el.tagName.toLowerCase()}.${el.className} ${el.clientWidth}px shows ${el.scrollWidth}px`)
"""
WIDTH = 1280


def start_demo(supervisor: Supervisor, data_dir: Path, port: int, password: str) -> Child:
    env = {
        **os.environ,
        "PIPELINES_DATA_DIR": str(data_dir),
        "PIPELINES_ADMIN_USER": "admin",
        "PIPELINES_ADMIN_PASSWORD": password,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "PIPELINES_SERVER_URL", "PIPELINES_API_TOKEN"):
        env.pop(name, None)
    command = [sys.executable, "manage.py", "demo", "--port", str(port), "--concurrency", "2"]
    return supervisor.start("demo", command, env=env, log_path=data_dir / "demo.log", cwd=REPO)


def wait_until_running(supervisor: Supervisor, demo: Child) -> str:
    """The demo's client.json path, once the examples ran and the banner is out."""
    found: list[str] = []

    def banner_is_out() -> bool:
        text = demo.log_path.read_text(errors="replace")
        sdk_config = re.search(r"SDK config\s+(\S+)", text) if "Pipelines is running." in text else None
        if sdk_config:
            found.append(sdk_config.group(1))
        return bool(found)

    try:
        if supervisor.wait_until(banner_is_out, timeout=READY_TIMEOUT):
            return found[0]
    except ChildExited:
        raise SystemExit(f"The demo stopped:\n{demo.tail(60)}") from None
    raise SystemExit(f"The demo did not come up in {READY_TIMEOUT} s:\n{demo.tail(60)}")


def add_runs() -> dict[str, object]:
    from pipelines.client import Client
    from tests.browser import browser_pipelines as sample

    trained = [
        sample.training_pipeline.with_options(wait=False)(learning_rate=rate, rows=rows).wait()
        for rate, rows in ((0.1, 300), (0.05, 300), (0.02, 500), (0.03, 500), (0.035, 800), (0.03, 1000))
    ]
    live = sample.live_pipeline.with_options(wait=False)(name="screenshots", seconds=1.5).wait()
    client = Client()
    versions = client.list_model_versions(sample.CHURN.name).items  # newest first
    client.update_model_version(sample.CHURN.name, versions[0].id, stage="production", force=True)
    client.update_model_version(sample.CHURN.name, versions[2].id, stage="staging", force=True)
    return {
        "trained": trained,
        "live": live,
        "model_version": versions[0],
        "pipeline": client.get_pipeline(sample.training_pipeline.name),
        "metrics": client.get_artifact("metrics"),
    }


def screenshots(server: str, password: str, out: Path, runs: dict) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, chromium_path

    trained = runs["trained"]
    latest = trained[-1]
    pages = {
        "home": "/",
        "runs": "/runs/",
        "run-detail": f"/runs/{latest.id}/",
        "step": f"/steps/{latest.steps['train_classifier'].id}/",
        "artifact-version": f"/artifact-versions/{latest.steps['load_customers'].outputs['customers'].id}/",
        "compare": f"/compare/?run={trained[-2].id}&run={latest.id}",
        "metadata-explorer": "/metadata/?key=accuracy&target=run",
        "model-version": f"/model-versions/{runs['model_version'].id}/",
        "pipeline": f"/pipelines/{runs['pipeline'].id}/",
        "artifact": f"/artifacts/{runs['metrics'].id}/",
    }
    written = []
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=server, viewport={"width": WIDTH, "height": 900})
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("form button[type=submit]")
        for name, path in pages.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)  # chart animations
            target = out / f"{name}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
            log(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}: {path}")
            for box in page.evaluate(SIDEWAYS_BOXES):
                log(f"  scrolls sideways inside the page: {box}")
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="pipelines-screenshots-"))
    port = free_port()
    password = secrets.token_urlsafe(12)
    server = f"http://127.0.0.1:{port}"
    log(f"starting the demo on {server} in {data_dir}")
    # The demo stops its own web server and worker on SIGTERM, within its own timeout.
    supervisor = Supervisor(stop_timeout=60, poll_interval=1)
    try:
        demo = start_demo(supervisor, data_dir, port, password)
        client_json = Path(wait_until_running(supervisor, demo))
        config = json.loads(client_json.read_text())
        os.environ["PIPELINES_SERVER_URL"] = server
        os.environ["PIPELINES_API_TOKEN"] = config["api_token"]
        log("adding runs")
        runs = add_runs()
        screenshots(server, password, args.out, runs)
    finally:
        supervisor.stop_all()
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
