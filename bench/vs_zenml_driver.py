"""One warm SDK process of the side-by-side benchmark: runs what bench/vs_zenml.py asks.

    <venv>/bin/python bench/vs_zenml_driver.py --system ours|zenml --pipelines-dir DIR

Runs in ZenML's own virtualenv or in this project's `.venv`, so it imports only the
standard library, numpy and the system under test. It reads one JSON command per
line on stdin and answers each with one JSON line on its original stdout; everything
the system prints goes to stderr (the benchmark's log file), so it cannot garble
the answers. Commands:

    {"op": "chain", "length": 20}  -> {"wall": s}     submit `int_chain` and wait until completed
    {"op": "check", "length": 20}  -> {"value": n}    the last step's output, loaded through the Client
    {"op": "array", "mib": 100}    -> {"wall": s, "save": s, "load": s, "materializer": ...}
    {"op": "memory"}               -> {"hwm_kib": n, "rss_kib": n}  (VmHWM, VmRSS of this process)
    {"op": "network"}              -> {"outside": [...]}  name lookups and connections beyond the loopback
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

OUTSIDE: list[str] = []
# Whether the next array command loads through the system first (True) or np.load first.
ARRAY_TURNS = [index % 2 == 0 for index in range(10_000)]


def audit(event: str, args: tuple[Any, ...]) -> None:
    """Record every connection attempt to an address outside the loopback range, and name lookups."""
    if event == "socket.getaddrinfo":
        raw = args[0]
        host = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if host not in ("localhost", "") and not host.startswith("127.") and host != "::1" and len(OUTSIDE) < 50:
            OUTSIDE.append(f"lookup {host}")
        return
    if event != "socket.connect":
        return
    address = args[1]
    if not isinstance(address, tuple):  # a Unix socket
        return
    host = str(address[0])
    try:
        outside = not ipaddress.ip_address(host).is_loopback
    except ValueError:
        outside = host != "localhost"
    if outside and len(OUTSIDE) < 50:
        OUTSIDE.append(f"{host}:{address[1]}")


def proc_status(pid: int | str = "self") -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0])
    return values


def only_npy_file(uri: str) -> str:
    """The one .npy file a numpy materializer wrote below `uri` (both systems write one)."""
    found = sorted(Path(uri).rglob("*.npy"))
    if len(found) != 1:
        raise RuntimeError(f"expected one .npy file below {uri}, found {[str(p) for p in found]}")
    return str(found[0])


def as_epoch(value: datetime) -> float:
    # ZenML records naive UTC datetimes; this project's are timezone-aware.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class Ours:
    def __init__(self, module: Any) -> None:
        from pipelines.client import Client

        self.module, self.client_class = module, Client

    def run(self, pipe: Any, **params: Any) -> Any:
        run = pipe(**params)  # waits (printing progress) and returns the run
        if run.status != "completed":
            raise RuntimeError(f"run {run.name} ended {run.status}")
        return run

    def step_end_and_output(self, run: Any, name: str) -> tuple[float, Any]:
        step = run.steps[name]
        return as_epoch(step.finished_at), step.output.id

    def load(self, artifact_version_id: Any) -> tuple[Any, str]:
        version = self.client_class().get_artifact_version(artifact_version_id)
        return version.load(), str(version.materializer)

    def array_file(self, artifact_version_id: Any) -> str:
        return only_npy_file(self.client_class().get_artifact_version(artifact_version_id).uri)


class Zenml:
    def __init__(self, module: Any) -> None:
        from zenml.client import Client

        self.module, self.client_class = module, Client

    def run(self, pipe: Any, **params: Any) -> Any:
        run = pipe(**params)  # the local orchestrator returns when the run has ended
        if str(getattr(run.status, "value", run.status)) != "completed":
            raise RuntimeError(f"run {run.name} ended {run.status}")
        return run

    def step_end_and_output(self, run: Any, name: str) -> tuple[float, Any]:
        step = self.client_class().get_pipeline_run(run.id).steps[name]
        return as_epoch(step.end_time), step.outputs["output"][0].id

    def load(self, artifact_version_id: Any) -> tuple[Any, str]:
        version = self.client_class().get_artifact_version(artifact_version_id)
        materializer = version.materializer
        return version.load(), f"{materializer.module}.{materializer.attribute}"

    def array_file(self, artifact_version_id: Any) -> str:
        return only_npy_file(self.client_class().get_artifact_version(artifact_version_id).uri)


def handle(system: Ours | Zenml, command: dict[str, Any], mark: Path) -> dict[str, Any]:
    op = command["op"]
    module = system.module
    if op == "chain":
        t0 = time.perf_counter()
        system.run(module.int_chain, length=command["length"])
        return {"wall": time.perf_counter() - t0}
    if op == "check":
        run = system.run(module.int_chain, length=command["length"])
        _, output = system.step_end_and_output(run, f"inc_{command['length'] - 1:02d}")
        return {"value": system.load(output)[0]}
    if op == "array":
        mark.unlink(missing_ok=True)
        t0 = time.perf_counter()
        run = system.run(module.array_output, mib=command["mib"])
        wall = time.perf_counter() - t0
        ended, output = system.step_end_and_output(run, "big_array")
        returned, np_save = (float(value) for value in mark.read_text().split())
        Path(f"{mark}.baseline.npy").unlink()
        # np.load of the stored file in this same process, before or after the load
        # through the system in turns: whichever goes second finds memory the first
        # just freed, which this VM hands out far faster than memory free for longer.
        loads: dict[str, float] = {}
        for what in ("system", "np.load") if ARRAY_TURNS.pop(0) else ("np.load", "system"):
            t1 = time.perf_counter()
            if what == "system":
                array, materializer = system.load(output)
            else:
                array = np.load(system.array_file(output))
            loads[what] = time.perf_counter() - t1
            if array.nbytes != command["mib"] * 2**20 or float(array[-1]) != array.size - 1:
                raise RuntimeError(f"{what} loaded a wrong array: {array.nbytes} bytes, last {array[-1]}")
            del array
        return {
            "wall": wall,
            "save": ended - returned,
            "np_save": np_save,
            "load": loads["system"],
            "np_load": loads["np.load"],
            "materializer": materializer,
        }
    if op == "memory":
        status = proc_status()
        return {"hwm_kib": status["VmHWM"], "rss_kib": status["VmRSS"]}
    if op == "network":
        return {"outside": list(OUTSIDE)}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--system", choices=["ours", "zenml"], required=True)
    parser.add_argument("--pipelines-dir", required=True, type=Path)
    args = parser.parse_args()

    sys.addaudithook(audit)
    # Answers go to the original stdout only; whatever the system prints goes to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.path.insert(0, str(args.pipelines_dir))
    module = importlib.import_module(f"vs_zenml_pipelines_{args.system}")
    system = Ours(module) if args.system == "ours" else Zenml(module)
    mark = Path(os.environ[module.RETURN_MARK_ENV])
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        try:
            answer = handle(system, command, mark)
        except Exception as exc:
            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
