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

Files are read through the version's store (`store_for_uri(version.uri)`), never by
path, so the web server needs no mount of a worker's disk and previews work the same
on an object store, where each read is a ranged request. A small version kept in its
database row (`inline_files`) is previewed from the row, checked against its checksum.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from pipelines.models import ArtifactVersion
from pipelines.sdk.artifact_saving import inline_store
from pipelines.sdk.stores import ArtifactIntegrityError, join_uri
from pipelines.storage import store_for_uri

logger = logging.getLogger(__name__)

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
    uri: str
    content_type: str
    size: int


@dataclass(frozen=True)
class _Found:
    """One stored file chosen for the preview: where it is, its name, size and kind."""

    uri: str
    name: str
    size: int
    kind: str


def preview_for(version: ArtifactVersion, *, small: bool = False) -> Preview:
    """The preview of a ready version; `small` gives the compact form for side-by-side use."""
    data_type = version.data_type
    try:
        store = _store_of(version)
        found = _find(version, store)
    except Exception as exc:  # a store's errors are not all OSErrors; a preview never breaks the page
        return Preview(kind="none", data_type=data_type, reason=_unreadable(version, exc))
    if found is None:
        return Preview(kind="none", data_type=data_type, reason="No previewable file in this artifact.")
    kind = found.kind
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
            if found.size > RAW_BYTES:
                return Preview(kind="none", data_type=data_type, reason="Too large to preview.")
            return Preview(kind=kind, data_type=data_type)
        if kind == "json":
            return _json_preview(store, found, version, data_type, text_bytes)
        if kind in ("text", "markdown"):
            text, truncated = _read_text(store, found.uri, text_bytes)
            return Preview(kind=kind, data_type=data_type, text=text, truncated=truncated)
        if kind == "bytes":
            return _bytes_preview(store, found, data_type, text_bytes)
        if kind == "csv":
            return _csv_preview(store, found, data_type, rows, text_bytes)
        if kind == "parquet":
            return _parquet_preview(store, found, data_type, rows)
        if kind == "array":
            return _array_preview(store, found, data_type, small=small)
    except Exception as exc:  # as above; pyarrow and numpy raise errors of their own on bad bytes
        return Preview(kind="none", data_type=data_type, reason=_unreadable(version, exc))
    return Preview(kind="none", data_type=data_type, reason="No preview for this type.")


def raw_file_for(version: ArtifactVersion) -> RawFile | None:
    """The image or HTML file the preview URL serves, with its content type; None if none."""
    try:
        store = store_for_uri(version.uri)
        found = _find(version, store)
        if found is None or found.size > RAW_BYTES:
            return None
        if found.kind in ("image", "bytes"):
            # Served only with the type its bytes prove (a PNG saved as `bytes` included).
            content_type = _sniff_image(store, found.uri)
            return RawFile(uri=found.uri, content_type=content_type, size=found.size) if content_type else None
    except Exception as exc:  # the version page already says why there is no preview
        _unreadable(version, exc)
        return None
    if found.kind == "html":
        return RawFile(uri=found.uri, content_type="text/html; charset=utf-8", size=found.size)
    return None


def _store_of(version: ArtifactVersion) -> Any:
    """Where the preview reads the version's files: a small version kept in its row is
    read from the row (whole even when a power cut took its unsynced store copy),
    checked against its checksum; any other from its store."""
    if version.inline_files:
        return inline_store(version.uri, version.inline_files, version.checksum)
    return store_for_uri(version.uri)


def _unreadable(version: ArtifactVersion, exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"The stored files are missing ({version.uri})."
    if isinstance(exc, ArtifactIntegrityError) and version.inline_files:
        return (
            "The copy of this version kept in its database row does not match its checksum: "
            "it was changed or damaged. Re-run the producing step."
        )
    # The cause stays in the server's log: a store's error may name its endpoint or account.
    logger.warning("Previewing artifact version %s at %s failed", version.id, version.uri, exc_info=True)
    return "The stored files could not be read for a preview."


def _name_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _find(version: ArtifactVersion, store: Any) -> _Found | None:
    """The file to preview and its kind (see _KIND_ORDER, plus bytes and pickle)."""
    root = version.uri
    # One listing, cut short: a version may hold any number of files.
    entries = list(itertools.islice(store.walk(root), SCAN_ENTRIES + 1))
    if not entries:
        raise FileNotFoundError(root)
    if entries[0][0] == "":  # the version is one file
        name = _name_of(root)
        return _Found(uri=root, name=name, size=entries[0][1], kind=_kind_of_file(store, root, name))
    complete = len(entries) <= SCAN_ENTRIES
    # Only the folder's top level counts.
    top = {relative: size for relative, size in entries[:SCAN_ENTRIES] if "/" not in relative}
    # The files the project's own materializers write, by name.
    for name, kind in (
        ("array.npy", "array"),
        ("df.parquet", "parquet"),
        ("series.parquet", "parquet"),
        ("preview.csv", "csv"),
        ("data.json", "json"),
        ("data.bin", "bytes"),
    ):
        uri = join_uri(root, name)
        if name in top:
            return _Found(uri=uri, name=name, size=top[name], kind=kind)
        if not complete and store.exists(uri) and not store.isdir(uri):
            return _Found(uri=uri, name=name, size=store.size(uri), kind=kind)
    found: dict[str, str] = {}
    pickled: str | None = None
    for name in sorted(top):
        if name in _PICKLES:
            pickled = pickled or name
            continue
        kind = _kind_of_file(store, join_uri(root, name), name)
        if kind != "bytes" and kind not in found:
            found[kind] = name
    for kind in _KIND_ORDER:
        if kind in found:
            name = found[kind]
            return _Found(uri=join_uri(root, name), name=name, size=top[name], kind=kind)
    if pickled is not None:
        return _Found(uri=join_uri(root, pickled), name=pickled, size=top[pickled], kind="pickle")
    return None


def _suffix(name: str) -> str:
    return "." + name.rsplit(".", 1)[1].lower() if "." in name else ""


def _kind_of_file(store: Any, uri: str, name: str) -> str:
    suffix = _suffix(name)
    if name in _PICKLES or suffix in (".pkl", ".pickle"):
        return "pickle"
    kind = _EXTENSION_KINDS.get(suffix, "bytes")
    if kind == "image" and _sniff_image(store, uri) is None:
        return "bytes"  # named like an image, but its bytes say otherwise
    return kind


def _head(store: Any, uri: str, count: int = 16) -> bytes:
    with store.open(uri, "rb") as handle:
        return handle.read(count)


def _sniff_image(store: Any, uri: str) -> str | None:
    return _image_type(_head(store, uri))


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


def _read_text(store: Any, uri: str, limit: int) -> tuple[str, bool]:
    raw = _head(store, uri, limit + 1)
    truncated = len(raw) > limit
    # errors="replace" both for binary junk and for a character cut in half at the limit.
    return raw[:limit].decode("utf-8", errors="replace"), truncated


def _json_preview(store: Any, found: _Found, version: ArtifactVersion, data_type: str, limit: int) -> Preview:
    if found.size > JSON_PARSE_BYTES:
        text, truncated = _read_text(store, found.uri, limit)
        return Preview(kind="json", data_type=data_type, text=text, truncated=truncated)
    value = json.loads(_head(store, found.uri, JSON_PARSE_BYTES + 1))
    # The container materializer wraps values as {"kind": "tuple", "value": [...]}.
    if "BuiltInContainerMaterializer" in version.materializer and isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, str):
        text = value[:limit]
        return Preview(kind="text", data_type=data_type, text=text, truncated=len(value) > limit)
    pretty = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True)
    return Preview(kind="json", data_type=data_type, text=pretty[:limit], truncated=len(pretty) > limit)


def _bytes_preview(store: Any, found: _Found, data_type: str, limit: int) -> Preview:
    raw = _head(store, found.uri, limit + 1)
    if _image_type(raw[:16]):
        return Preview(kind="image", data_type=data_type)
    text, truncated = raw[:limit].decode("utf-8", errors="replace"), len(raw) > limit
    if "\x00" in text or text.count("\ufffd") > len(text) // 20 + 1:
        return Preview(kind="none", data_type=data_type, reason="Binary data.")
    return Preview(kind="text", data_type=data_type, text=text, truncated=truncated)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _csv_preview(store: Any, found: _Found, data_type: str, rows: int, limit: int) -> Preview:
    raw, truncated = _read_text(store, found.uri, max(limit, 64_000))
    delimiter = "\t" if _suffix(found.name) == ".tsv" else ","
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


def _parquet_preview(store: Any, found: _Found, data_type: str, rows: int) -> Preview:
    import pyarrow.parquet as pq

    if found.size > PARQUET_BYTES:
        return Preview(kind="none", data_type=data_type, reason="Too large to preview.")
    # pyarrow reads the footer, then the first row group's pages, by seeking in the
    # file object: only those ranges are read from the store.
    with store.open(found.uri, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        names = [name for name in parquet.schema_arrow.names if not name.startswith("__index_level_")]
        columns = names[:TABLE_COLUMNS]
        batch = next(parquet.iter_batches(batch_size=rows, columns=columns), None)
        records = batch.to_pylist() if batch is not None else []
        total_rows = parquet.metadata.num_rows
    return Preview(
        kind="table",
        data_type=data_type,
        columns=[_cell(name) for name in columns],
        rows=[[_cell(record.get(name)) for name in columns] for record in records[:rows]],
        truncated=total_rows > rows or len(names) > TABLE_COLUMNS,
    )


def _array_preview(store: Any, found: _Found, data_type: str, *, small: bool) -> Preview:
    import numpy as np

    count = ARRAY_SAMPLE // 2 if small else ARRAY_SAMPLE
    with store.open(found.uri, "rb") as handle:
        major, minor = np.lib.format.read_magic(handle)
        if (major, minor) == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
        shape_text = "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
        if dtype.hasobject:
            return Preview(
                kind="array",
                data_type=data_type,
                shape=shape_text,
                dtype=str(dtype),
                text="(object array: its values are pickled, so no sample is shown)",
            )
        size = int(np.prod(shape, dtype=np.int64))
        sample = _array_sample(handle, shape, fortran_order, dtype, min(count, size))
    text = np.array2string(sample, precision=6, separator=", ", threshold=count + 1, max_line_width=100)
    return Preview(
        kind="array",
        data_type=data_type,
        shape=shape_text,
        dtype=str(dtype),
        text=text,
        truncated=size > count,
    )


def _array_sample(handle: Any, shape: tuple[int, ...], fortran_order: bool, dtype: Any, count: int) -> Any:
    """The first `count` values in C order, reading only their bytes (the array may be
    gigabytes in a remote store)."""
    import numpy as np

    if count == 0:
        return np.array([], dtype=dtype)
    if not fortran_order or len(shape) < 2:
        raw = handle.read(count * dtype.itemsize)
        return np.frombuffer(raw, dtype=dtype, count=len(raw) // dtype.itemsize)
    # Stored column by column: each of the first values (in C order) sits elsewhere.
    start = handle.tell()
    offsets = np.ravel_multi_index(np.unravel_index(np.arange(count), shape), shape, order="F")
    values = []
    for offset in offsets:
        handle.seek(start + int(offset) * dtype.itemsize)
        values.append(handle.read(dtype.itemsize))
    return np.frombuffer(b"".join(values), dtype=dtype)
