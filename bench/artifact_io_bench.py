"""Saving and loading one large numpy array as an artifact, against numpy and obstore.

    .venv/bin/python bench/artifact_io_bench.py [--mib 100] [--repeat 5] [--only local|s3] [--markdown]

Figures, each taken in turns with its baseline (baseline, ours, baseline, ours, ...)
so a busy neighbour on the machine slows both alike; the ratio is the median of the
per-turn ratios (the range is printed too):

- local save: `save_artifact_value` (the executor's own path: the numpy materializer
  writing through the store, SHA-256 while streaming, fsync, rename, folder fsync, the
  version checksum) against `np.save` to an open file of the same folder + fsync;
- local load: a version's `.load()` as the `Client` does it (`load_version`, which
  checks integrity) against `np.load` of the baseline's file, in a process that has
  not verified the file yet (as a Client that did not write it: the bench forgets
  what its own save noted), given the file identities the save recorded with the
  version (`ArtifactVersion.file_identities`, as the API hands them to the Client);
  "local load, hashed" is the same without them (a file whose identity differs from
  the recorded one: copied, touched, another machine's disk), so every byte is
  hashed; "load again" is the next load of the same version in the same process
  (each file is verified once per identity);
- S3 save and load (moto's server, started as tests/s3_server.py starts it): the same
  two calls against obstore's own `put` and `get(...).bytes()` of the same `.npy`
  bytes.

Both are read from the page cache (each file was just written): the figure is the
cost of our code, not of the disk. This process never forks after using obstore (it
is not fork-safe): moto runs as a separate program, started before the first request.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipelines.sdk.artifact_access import load_version  # noqa: E402
from pipelines.sdk.artifact_saving import save_artifact_value  # noqa: E402
from pipelines.sdk.materializers.numpy_materializer import NumpyMaterializer  # noqa: E402
from pipelines.sdk.source import source_of  # noqa: E402
from pipelines.sdk.stores import ArtifactStore, LocalArtifactStore, store_from_url  # noqa: E402
from pipelines.sdk.stores.base import forget_verified  # noqa: E402

TARGETS: dict[str, float | None] = {
    "local save": 1.5,
    "local load": 1.5,
    "local load, hashed": None,  # shown for what a file of another identity costs
    "local load again": 1.5,
    "s3 save": 1.3,
    "s3 load": 1.3,
    "s3 load again": 1.3,
}


class _NoServer:
    """Stands in for a Client whose store is reachable: `load_version` never calls it."""

    server_url = "http://unused.invalid"


def _timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


class Figure:
    def __init__(self, name: str, baseline: str) -> None:
        self.name = name
        self.baseline_name = baseline
        self.baseline: list[float] = []
        self.ours: list[float] = []

    def add(self, baseline: float, ours: float) -> None:
        self.baseline.append(baseline)
        self.ours.append(ours)

    @property
    def ratios(self) -> list[float]:
        return [o / b for o, b in zip(self.ours, self.baseline, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def target(self) -> str:
        target = TARGETS[self.name]
        return f"≤ {target}x" if target is not None else "none"

    def line(self) -> str:
        ratios = self.ratios
        return (
            f"{self.name:<18} {self.baseline_name:<16} {statistics.median(self.baseline) * 1000:8.1f} ms   "
            f"ours {statistics.median(self.ours) * 1000:8.1f} ms   ratio {self.ratio:5.2f}x "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}x, target {self.target})"
        )


class Version:
    """What the server records for a saved version, as the Client receives it."""

    def __init__(self, uri: str, checksum: str, size: int, number: int, file_identities: dict[str, Any]) -> None:
        self.uri, self.checksum, self.size, self.id = uri, checksum, size, number
        self.file_identities = file_identities

    def load(self, *, with_identities: bool = True) -> Any:
        return load_version(
            uri=self.uri,
            materializer=source_of(NumpyMaterializer),
            data_type="numpy.ndarray",
            checksum=self.checksum,
            version_id=self.id,
            size=self.size,
            client=_NoServer(),  # type: ignore[arg-type]
            file_identities=self.file_identities if with_identities else None,
        )


def save_ours(store: ArtifactStore, array: np.ndarray, number: int) -> Version:
    uri = store.uri_for(run_id=1, step_run_id=number, attempt=1, output_index=0)
    identities: dict[str, Any] = {}
    _, checksum, size = save_artifact_value(
        store=store, uri=uri, materializer=NumpyMaterializer, value=array, file_identities=identities
    )
    return Version(uri, checksum, size, number, identities)


def _settle(nbytes: int) -> None:
    # The first large allocation after a save (which freed its buffers) is several
    # times slower than the next, whichever load comes first; touching a buffer of
    # the array's size first gives every load the same start.
    np.ones(nbytes, dtype=np.uint8)


def _timed_check(load: Callable[[], Any], expected: Any) -> float:
    """The time `load()` takes; what it returns is checked (after the clock stops) and dropped."""
    _settle(expected.nbytes if isinstance(expected, np.ndarray) else len(expected))
    start = time.perf_counter()
    loaded = load()
    took = time.perf_counter() - start
    if isinstance(expected, np.ndarray):
        good = isinstance(loaded, np.ndarray) and loaded.shape == expected.shape and loaded[-1] == expected[-1]
    else:
        good = len(loaded) == len(expected)
    if not good:
        raise SystemExit("a load returned something other than what was saved")
    return took


def _pair(turn: int, baseline: Callable[[], float], ours: Callable[[], float]) -> tuple[float, float]:
    """(baseline time, our time), the one that goes first alternating from turn to turn
    (what runs right after a write or an upload may pay for it)."""
    if turn % 2:
        mine = ours()
        return baseline(), mine
    first = baseline()
    return first, ours()


def _turns(
    repeat: int,
    names: tuple[str, str],
    save: tuple[Callable[[], float], Callable[[int], Version]],
    load: tuple[Callable[[], float], Callable[[], Any]],
    cleanup: Callable[[Version], None],
    array: np.ndarray,
) -> list[Figure]:
    store_name, baseline = names
    saves = Figure(f"{store_name} save", baseline[0])
    loads = Figure(f"{store_name} load", baseline[1])
    # Only where a store records identities (a local one) does a load without them differ.
    hashed = Figure(f"{store_name} load, hashed", baseline[1]) if f"{store_name} load, hashed" in TARGETS else None
    again = Figure(f"{store_name} load again", baseline[1])
    base_save, our_save = save
    base_load, expected = load
    for turn in range(repeat + 1):  # turn 0 warms up (imports, first allocations, connections)
        saved: list[Version] = []

        def ours_save(turn: int = turn, saved: list[Version] = saved) -> float:
            started = time.perf_counter()
            saved.append(our_save(turn + 1))
            return time.perf_counter() - started

        def ours_load(saved: list[Version] = saved) -> float:
            # As a Client process that did not write the file: nothing verified yet.
            forget_verified()
            return _timed_check(saved[0].load, array)

        def ours_hashed(saved: list[Version] = saved) -> float:
            forget_verified()
            return _timed_check(lambda: saved[0].load(with_identities=False), array)

        def ours_again(saved: list[Version] = saved) -> float:
            return _timed_check(saved[0].load, array)

        def base(expected: Any = expected) -> float:
            return _timed_check(base_load, expected)

        figures = [(saves, _pair(turn, base_save, ours_save)), (loads, _pair(turn, base, ours_load))]
        if hashed is not None:
            figures.append((hashed, _pair(turn, base, ours_hashed)))
        figures.append((again, _pair(turn, base, ours_again)))
        cleanup(saved[0])
        if turn:
            for figure, (b, o) in figures:
                figure.add(b, o)
    return [saves, loads, *([hashed] if hashed is not None else []), again]


def bench_local(array: np.ndarray, repeat: int, folder: Path) -> list[Figure]:
    store = LocalArtifactStore(folder / "artifacts")
    baseline_path = folder / "baseline.npy"

    def np_save() -> float:
        started = time.perf_counter()
        with open(baseline_path, "wb") as handle:
            np.save(handle, array)
            handle.flush()
            os.fsync(handle.fileno())
        return time.perf_counter() - started

    return _turns(
        repeat,
        ("local", ("np.save + fsync", "np.load")),
        (np_save, lambda number: save_ours(store, array, number)),
        (lambda: np.load(baseline_path), array),
        lambda version: store.remove(version.uri),
        array,
    )


def bench_s3(array: np.ndarray, repeat: int, folder: Path) -> list[Figure]:
    sys.path.insert(0, str(ROOT))
    from tests.s3_server import start_s3_server

    server = start_s3_server(folder / "moto.log")
    try:
        os.environ.update(server.environ)
        bucket = server.create_bucket()
        import obstore
        from obstore.store import from_url

        raw = from_url(f"s3://{bucket}", client_options={"allow_http": True})
        store = store_from_url(f"s3://{bucket}/artifacts")
        buffer = io.BytesIO()
        np.save(buffer, array)
        data = buffer.getvalue()
        key = "raw/array.npy"
        return _turns(
            repeat,
            ("s3", ("obstore put", "obstore get")),
            (lambda: _timed(lambda: obstore.put(raw, key, data)), lambda number: save_ours(store, array, number)),
            (lambda: obstore.get(raw, key).bytes(), data),
            lambda version: (store.remove(version.uri), obstore.delete(raw, key)),
            array,
        )
    finally:
        server.stop()


def markdown(figures: list[Figure], mib: int) -> str:
    load1, load5, load15 = os.getloadavg()
    lines = [
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"load average {load1:.2f} {load5:.2f} {load15:.2f}, a {mib} MiB float64 array "
        "(median of per-turn ratios)",
        "",
        "| figure | baseline | baseline time | ours | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for figure in figures:
        lines.append(
            f"| {figure.name} | {figure.baseline_name} | {statistics.median(figure.baseline) * 1000:.0f} ms "
            f"| {statistics.median(figure.ours) * 1000:.0f} ms | {figure.ratio:.2f}x | {figure.target} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("local", "s3"))
    parser.add_argument("--markdown", action="store_true", help="also print a table for the README")
    options = parser.parse_args()
    array = np.arange(options.mib * 2**20 // 8, dtype=np.float64)
    # The data folder's disk, as the artifact store's: the baseline writes beside it.
    parent = Path(os.environ.get("PIPELINES_DATA_DIR") or ROOT / "var" / "bench")
    parent.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="artifact-io-", dir=parent) as folder:
        if options.only in (None, "local"):
            local = bench_local(array, options.repeat, Path(folder))
            figures += local
            for figure in local:
                print(figure.line(), flush=True)
        if options.only in (None, "s3"):
            s3 = bench_s3(array, options.repeat, Path(folder))
            figures += s3
            for figure in s3:
                print(figure.line(), flush=True)
    if options.markdown:
        print()
        print(markdown(figures, options.mib))


if __name__ == "__main__":
    main()
