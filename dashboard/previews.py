"""What an artifact version looks like to a person: a preview chosen by its files.

Everything here reads bounded amounts of bytes (a few kilobytes of text, twenty rows
of a table, a sample of an array) and never unpickles anything: a pickle runs code
when it is loaded, and a preview must not run a step's code in the web process.

The preview is chosen from the files the materializers write (`data.json`,
`data.bin`, `array.npy`, `df.parquet`, `preview.csv`, ...) and, for files written
by other materializers, from their extensions, checked against their magic bytes
for images. Markdown is shown as escaped text, never rendered: rendering it would
mean serving user HTML outside the sandboxed frame. HTML is never put in the page;
the page frames `artifact-version-preview` in a sandbox, and that response forbids
scripts itself (`Content-Security-Policy: sandbox`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.models import ArtifactVersion
from pipelines.sdk.artifact_store import LocalArtifactStore

TEXT_BYTES = 20_000
SMALL_TEXT_BYTES = 2_000
TABLE_ROWS = 20
SMALL_TABLE_ROWS = 5
TABLE_COLUMNS = 30
CELL_CHARS = 200
ARRAY_SAMPLE = 20
# A JSON file is parsed (to pretty-print it) only up to this size; bigger ones are
# shown as their first bytes.
JSON_PARSE_BYTES = 1_000_000
# Raw image and HTML bytes are served up to this size.
RAW_BYTES = 20 * 1024 * 1024
# Reading the first rows of a parquet file touches its first row group only, but a
# huge file may have a huge one.
PARQUET_BYTES = 512 * 1024 * 1024
# A folder is searched among this many entries for a file to preview.
SCAN_ENTRIES = 200

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_EXTENSION_KINDS = {
    **dict.fromkeys(IMAGE_EXTENSIONS, "image"),
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".npy": "array",
    ".parquet": "parquet",
    ".txt": "text",
    ".log": "text",
    ".yaml": "text",
    ".yml": "text",
    ".svg": "text",  # SVG may carry script: shown as its source, never as an image
}
# Which file a folder is previewed by, best first.
_KIND_ORDER = ("image", "html", "parquet", "csv", "array", "markdown", "json", "text")
_PICKLES = frozenset({"data.pkl", "df.pkl"})


@dataclass(frozen=True)
class Preview:
    """What the preview partial renders. `kind` picks the shape; the rest fills it."""

    kind: str  # image, html, table, json, text, markdown, array or none
    data_type: str = ""
    text: str = ""
    truncated: bool = False
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    shape: str = ""
    dtype: str = ""
    reason: str = ""

    @property
    def framed(self) -> bool:
        """Served raw by the preview URL (an <img> or the sandboxed frame)."""
        return self.kind in ("image", "html")


@dataclass(frozen=True)
class RawFile:
    path: Path
    content_type: str
    size: int


def preview_for(version: ArtifactVersion, store: LocalArtifactStore, *, small: bool = False) -> Preview:
    """The preview of a ready version; `small` gives the compact form for side-by-side use."""
    data_type = version.data_type
    try:
        found = _find(version, store)
    except (OSError, ValueError) as exc:
        return Preview(kind="none", data_type=data_type, reason=_unreadable(exc))
    if found is None:
        return Preview(kind="none", data_type=data_type, reason="No previewable file in this artifact.")
    path, kind = found
    text_bytes = SMALL_TEXT_BYTES if small else TEXT_BYTES
    rows = SMALL_TABLE_ROWS if small else TABLE_ROWS
    try:
        if kind == "pickle":
            return Preview(
                kind="none",
                data_type=data_type,
                reason="Stored as a pickle, which previews never load (loading a pickle runs code).",
            )
        if kind in ("image", "html"):
            if path.stat().st_size > RAW_BYTES:
                return Preview(kind="none", data_type=data_type, reason="Too large to preview.")
            return Preview(kind=kind, data_type=data_type)
        if kind == "json":
            return _json_preview(path, version, data_type, text_bytes)
        if kind in ("text", "markdown"):
            text, truncated = _read_text(path, text_bytes)
            return Preview(kind=kind, data_type=data_type, text=text, truncated=truncated)
        if kind == "bytes":
            return _bytes_preview(path, data_type, text_bytes)
        if kind == "csv":
            return _csv_preview(path, data_type, rows, text_bytes)
        if kind == "parquet":
            return _parquet_preview(path, data_type, rows)
        if kind == "array":
            return _array_preview(path, data_type, small=small)
    except (OSError, ValueError, UnicodeError) as exc:
        return Preview(kind="none", data_type=data_type, reason=_unreadable(exc))
    return Preview(kind="none", data_type=data_type, reason="No preview for this type.")


def raw_file_for(version: ArtifactVersion, store: LocalArtifactStore) -> RawFile | None:
    """The image or HTML file the preview URL serves, with its content type; None if none."""
    try:
        found = _find(version, store)
        if found is None:
            return None
        path, kind = found
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    if size > RAW_BYTES:
        return None
    if kind in ("image", "bytes"):
        # Served only with the type its bytes prove (a PNG saved as `bytes` included).
        content_type = _sniff_image(path)
        return RawFile(path=path, content_type=content_type, size=size) if content_type else None
    if kind == "html":
        return RawFile(path=path, content_type="text/html; charset=utf-8", size=size)
    return None


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "The stored files are missing."
    return "The stored files could not be read for a preview."


def _find(version: ArtifactVersion, store: LocalArtifactStore) -> tuple[Path, str] | None:
    """The file to preview and its kind (see _KIND_ORDER, plus bytes and pickle)."""
    root = store.resolve(version.uri)
    mode = root.lstat().st_mode
    if stat.S_ISREG(mode):
        return root, _kind_of_file(root)
    if not stat.S_ISDIR(mode):
        return None
    # The files the project's own materializers write, by name.
    for name, kind in (
        ("array.npy", "array"),
        ("df.parquet", "parquet"),
        ("series.parquet", "parquet"),
        ("preview.csv", "csv"),
        ("data.json", "json"),
        ("data.bin", "bytes"),
    ):
        candidate = root / name
        if _is_file(candidate):
            return candidate, kind
    found: dict[str, Path] = {}
    pickled: Path | None = None
    with os.scandir(root) as entries:
        for count, entry in enumerate(entries):
            if count >= SCAN_ENTRIES:
                break
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.name in _PICKLES:
                pickled = Path(entry.path)
                continue
            kind = _kind_of_file(Path(entry.path))
            if kind != "bytes" and (kind not in found or entry.name < found[kind].name):
                found[kind] = Path(entry.path)
    for kind in _KIND_ORDER:
        if kind in found:
            return found[kind], kind
    if pickled is not None:
        return pickled, "pickle"
    return None


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def _kind_of_file(path: Path) -> str:
    if path.name in _PICKLES or path.suffix.lower() in (".pkl", ".pickle"):
        return "pickle"
    kind = _EXTENSION_KINDS.get(path.suffix.lower(), "bytes")
    if kind == "image" and _sniff_image(path) is None:
        return "bytes"  # named like an image, but its bytes say otherwise
    return kind


def _sniff_image(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(16)
    return _image_type(head)


def _image_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _read_text(path: Path, limit: int) -> tuple[str, bool]:
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    truncated = len(raw) > limit
    # errors="replace" both for binary junk and for a character cut in half at the limit.
    return raw[:limit].decode("utf-8", errors="replace"), truncated


def _json_preview(path: Path, version: ArtifactVersion, data_type: str, limit: int) -> Preview:
    if path.stat().st_size > JSON_PARSE_BYTES:
        text, truncated = _read_text(path, limit)
        return Preview(kind="json", data_type=data_type, text=text, truncated=truncated)
    value = json.loads(path.read_bytes())
    # The container materializer wraps values as {"kind": "tuple", "value": [...]}.
    if "BuiltInContainerMaterializer" in version.materializer and isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, str):
        text = value[:limit]
        return Preview(kind="text", data_type=data_type, text=text, truncated=len(value) > limit)
    pretty = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True)
    return Preview(kind="json", data_type=data_type, text=pretty[:limit], truncated=len(pretty) > limit)


def _bytes_preview(path: Path, data_type: str, limit: int) -> Preview:
    with open(path, "rb") as handle:
        head = handle.read(16)
    if _image_type(head):
        return Preview(kind="image", data_type=data_type)
    text, truncated = _read_text(path, limit)
    if "\x00" in text or text.count("\ufffd") > len(text) // 20 + 1:
        return Preview(kind="none", data_type=data_type, reason="Binary data.")
    return Preview(kind="text", data_type=data_type, text=text, truncated=truncated)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _csv_preview(path: Path, data_type: str, rows: int, limit: int) -> Preview:
    raw, truncated = _read_text(path, max(limit, 64_000))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    lines = list(csv.reader(io.StringIO(raw), delimiter=delimiter))
    if truncated and lines:
        lines.pop()  # probably cut in the middle
    if not lines:
        return Preview(kind="none", data_type=data_type, reason="An empty table.")
    header, body = lines[0], lines[1:]
    return Preview(
        kind="table",
        data_type=data_type,
        columns=[_cell(name) for name in header[:TABLE_COLUMNS]],
        rows=[[_cell(value) for value in line[:TABLE_COLUMNS]] for line in body[:rows]],
        truncated=truncated or len(body) > rows or len(header) > TABLE_COLUMNS,
    )


def _parquet_preview(path: Path, data_type: str, rows: int) -> Preview:
    import pyarrow.parquet as pq

    if path.stat().st_size > PARQUET_BYTES:
        return Preview(kind="none", data_type=data_type, reason="Too large to preview.")
    parquet = pq.ParquetFile(path)
    names = [name for name in parquet.schema_arrow.names if not name.startswith("__index_level_")]
    columns = names[:TABLE_COLUMNS]
    batch = next(parquet.iter_batches(batch_size=rows, columns=columns), None)
    records = batch.to_pylist() if batch is not None else []
    return Preview(
        kind="table",
        data_type=data_type,
        columns=[_cell(name) for name in columns],
        rows=[[_cell(record.get(name)) for name in columns] for record in records[:rows]],
        truncated=parquet.metadata.num_rows > rows or len(names) > TABLE_COLUMNS,
    )


def _array_preview(path: Path, data_type: str, *, small: bool) -> Preview:
    import numpy as np

    with open(path, "rb") as handle:
        major, minor = np.lib.format.read_magic(handle)
        if (major, minor) == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    shape_text = "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
    if dtype.hasobject:
        return Preview(
            kind="array",
            data_type=data_type,
            shape=shape_text,
            dtype=str(dtype),
            text="(object array: its values are pickled, so no sample is shown)",
        )
    # A memory map reads only the pages the sample touches.
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    count = ARRAY_SAMPLE // 2 if small else ARRAY_SAMPLE
    sample = np.array(array.flat[:count])
    text = np.array2string(sample, precision=6, separator=", ", threshold=count + 1, max_line_width=100)
    return Preview(
        kind="array",
        data_type=data_type,
        shape=shape_text,
        dtype=str(dtype),
        text=text,
        truncated=int(array.size) > count,
    )
