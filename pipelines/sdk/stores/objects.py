"""Artifacts in an object store (`s3://`, `gs://`, `az://`) through obstore.

obstore is the Python binding of the Rust `object_store` crate: one wheel covers S3
and every S3-compatible service, Google Cloud Storage and Azure Blob Storage,
streams multipart uploads and ranged reads, and takes credentials from the standard
environment variables and each cloud's credential chain (for S3: `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`/`AWS_REGION`,
`AWS_ENDPOINT_URL`, then web identity, ECS and instance credentials).

A uri is `<scheme>://<bucket>/<prefix>/<id path>`; the obstore client is made for
the bucket alone, and keys are the uri's path, checked to lie below the prefix.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import os
import pickle
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import IO, Any
from urllib.parse import urlsplit

from pipelines.sdk.stores.base import (
    CHUNK_SIZE,
    WRITE_MODES,
    ArtifactStore,
    StoreConfigError,
    StoreUnreachable,
    StreamingWriter,
    check_mode,
    check_relative,
    check_text,
    watch_read,
    wrap_mode,
)

SCHEMES = ("s3", "gs", "az")
# Parts are uploaded once this much is buffered; two in flight at once keeps a
# write's memory bounded (about 3 * PART_SIZE, whatever the file size) while
# uploads overlap writing. S3 allows 10,000 parts: files up to about 48 GiB.
PART_SIZE = 5 * 1024 * 1024  # the smallest part S3 accepts
PARTS_IN_FLIGHT = 4
# Reads stream ranged GETs of this much, in chunks of STREAM_CHUNK (see _ObjectReader):
# each GET must end within the client's 30 s request timeout (over 4.5 MB/s), and
# fewer, longer GETs pay the service's time to first byte less often.
READ_WINDOW = 128 * 1024 * 1024
STREAM_CHUNK = 4 * 1024 * 1024
_S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
_DELETE_BATCH = 1000


def parse_store_url(url: str) -> tuple[str, str, str]:
    """(scheme, bucket, prefix) of `s3://bucket/prefix`; the prefix may be empty."""
    check_text(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise StoreConfigError(
            f"The artifact store URL {url!r} has an unsupported scheme; use a local path, "
            "s3://bucket/prefix, gs://bucket/prefix or az://container/prefix."
        )
    if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
        raise StoreConfigError(
            f"The artifact store URL {url!r} is malformed: write {scheme}://<bucket>/<optional prefix>, "
            "with no credentials, query or fragment in it (credentials come from the environment)."
        )
    prefix = parts.path.strip("/")
    if prefix:
        try:
            check_relative(url, prefix)
        except ValueError as exc:
            raise StoreConfigError(str(exc)) from None
    return scheme, parts.netloc, prefix


class ObjectStoreError(OSError):
    """An object store request failed (network, credentials, permissions, server)."""


@contextlib.contextmanager
def _translated(uri: str) -> Iterator[None]:
    """obstore's errors as OSErrors naming the uri (its own already are, for a missing key)."""
    from obstore.exceptions import BaseError, PermissionDeniedError, UnauthenticatedError

    try:
        yield
    except (PermissionDeniedError, UnauthenticatedError) as exc:
        raise PermissionError(f"{uri}: {_first_line(exc)}") from exc
    except BaseError as exc:
        raise ObjectStoreError(f"{uri}: {_first_line(exc)}") from exc


# Root causes obstore reports only in its multi-line debug text.
_CAUSES = re.compile(
    r"Connection refused|dns error[^\n\"]*|timed out|certificate[^\n\"]*|NoSuchBucket|AccessDenied|"
    r"InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken",
    re.IGNORECASE,
)


def _first_line(exc: BaseException) -> str:
    """The first line of an obstore error, and the root cause its debug text names."""
    full = str(exc).strip()
    lines = full.splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    causes = list(dict.fromkeys(match.group(0) for match in _CAUSES.finditer(full)))
    return f"{text} ({', '.join(causes)})" if causes else text


# obstore runs its requests on one tokio runtime per process, made on first use and
# not fork-safe: a process forked after its parent used obstore hangs on its first
# request. A Celery prefork worker's main process forks pool processes all its life
# (at start, and to replace one that died), so it must never use obstore itself;
# `isolate_this_process` makes every object-store call it makes (the reaper's
# deletions) run in a fresh Python process instead. The reachability check always
# does, since it runs in such processes before they can say so (Celery's Django
# fixup runs the system checks in the worker's main process).
_isolated_pid: int | None = None
_HELPER_TIMEOUT = 300.0
_HELPER = """
import pickle, sys
from pipelines.sdk.stores import store_from_url
url, name, args, kwargs = pickle.loads(sys.stdin.buffer.read())
try:
    result = getattr(store_from_url(url), name)(*args, **kwargs)
    outcome = (True, list(result) if name == "walk" else result)
except BaseException as exc:
    outcome = (False, exc)
try:
    data = pickle.dumps(outcome)
except Exception as exc:
    data = pickle.dumps((False, RuntimeError(f"{outcome[1]!r} ({exc})")))
sys.stdout.buffer.write(data)
"""


def isolate_this_process() -> None:
    """From now on, make this process's object-store calls in fresh helper processes."""
    global _isolated_pid
    _isolated_pid = os.getpid()


def _isolated() -> bool:
    return _isolated_pid == os.getpid()


def _in_helper(store: ObjectArtifactStore, name: str, *args: Any, **kwargs: Any) -> Any:
    """`store.<name>(*args, **kwargs)` in a fresh interpreter (no fork: see above)."""
    payload = pickle.dumps((store.url, name, args, kwargs))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _HELPER], input=payload, capture_output=True, env=env, timeout=_HELPER_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise ObjectStoreError(f"{store.url}: no answer within {_HELPER_TIMEOUT:.0f} s.") from exc
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ObjectStoreError(f"{store.url}: the object-store helper process failed: {detail[0]}")
    ok, value = pickle.loads(done.stdout)  # our own child's answer
    if ok:
        return value
    raise value


def _requests(method: Any) -> Any:
    """Run a store method with obstore's errors translated (see `_translated`), in a
    forked child when this process is isolated (see `isolate_this_process`)."""

    @functools.wraps(method)
    def wrapper(self: ObjectArtifactStore, uri: str, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            with _translated(uri):
                result = method(self, uri, *args, **kwargs)
                return list(result) if inspect.isgenerator(result) else result

        if _isolated():
            if method.__name__ == "open":
                raise ObjectStoreError(
                    f"{uri}: files cannot be opened in a Celery worker's main process (obstore is not fork-safe)."
                )
            result = _in_helper(self, method.__name__, uri, *args, **kwargs)
        else:
            result = call()
        return iter(result) if isinstance(result, list) and method.__name__ == "walk" else result

    return wrapper


class ObjectArtifactStore(ArtifactStore):
    """Artifacts below `<scheme>://<bucket>/<prefix>` in an object store."""

    def __init__(self, url: str) -> None:
        self.scheme, self.bucket, self.prefix = parse_store_url(url)
        self.url = url.rstrip("/")
        self._base = f"{self.scheme}://{self.bucket}"
        self._store = self._make_client(retry_timeout=timedelta(seconds=60), max_retries=5)

    def __repr__(self) -> str:
        return f"ObjectArtifactStore({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectArtifactStore) and other.root_uri == self.root_uri

    def __hash__(self) -> int:
        return hash(self.root_uri)

    def _make_client(self, *, retry_timeout: timedelta, max_retries: int) -> Any:
        from obstore.store import from_url

        client_options: dict[str, Any] = {"connect_timeout": timedelta(seconds=5)}
        if self.scheme == "s3" and any(
            os.environ.get(name, "").lower().startswith("http://") for name in _S3_ENDPOINT_VARIABLES
        ):
            # An http endpoint (MinIO, moto on a private network) was asked for explicitly.
            client_options["allow_http"] = True
        try:
            return from_url(
                self._base,
                client_options=client_options,
                retry_config={"max_retries": max_retries, "retry_timeout": retry_timeout},
            )
        except Exception as exc:
            raise StoreConfigError(f"The artifact store {self.url} cannot be configured: {_first_line(exc)}") from exc

    @property
    def root_uri(self) -> str:
        return f"{self._base}/{self.prefix}" if self.prefix else self._base

    def key(self, uri: str) -> str:
        """The object key of `uri`, refusing anything not strictly below the prefix."""
        check_text(uri)
        head = self._base + "/"
        if not uri.startswith(head):
            raise ValueError(f"Artifact uri {uri!r} is not in the artifact store {self.root_uri!r}.")
        key = uri[len(head) :].rstrip("/")
        below = key
        if self.prefix:
            if not key.startswith(self.prefix + "/"):
                raise ValueError(f"Artifact uri {uri!r} is not below the artifact store prefix {self.root_uri!r}.")
            below = key[len(self.prefix) + 1 :]
        check_relative(uri, below)
        return key

    def contains(self, uri: str) -> bool:
        try:
            self.key(uri)
        except ValueError:
            return False
        return True

    def record_key(self, uri: str) -> str:
        return f"{self._base}/{self.key(uri)}"

    @_requests
    def open(self, uri: str, mode: str = "rb") -> IO[Any]:
        check_mode(mode)
        key = self.key(uri)
        if mode in WRITE_MODES:
            return wrap_mode(_ObjectWriter(self._store, key, f"{self._base}/{key}"), mode)
        raw = _ObjectReader(self._store, key, uri)
        handle = io.BufferedReader(raw, buffer_size=CHUNK_SIZE)
        return wrap_mode(watch_read(handle, f"{self._base}/{key}", raw.identity), mode)

    def identity_of(self, handle: IO[bytes]) -> tuple[Any, ...] | None:
        raw = getattr(getattr(handle, "_handle", handle), "raw", None)  # below any hashing wrapper
        return raw.identity if isinstance(raw, _ObjectReader) else None

    def _head(self, key: str) -> dict[str, Any] | None:
        import obstore

        try:
            return obstore.head(self._store, key)
        except FileNotFoundError:
            return None

    def _list(self, key: str) -> Iterator[dict[str, Any]]:
        import obstore

        # object_store matches prefixes by whole segments: "a/0" lists a/0/x, not a/01.
        for chunk in obstore.list(self._store, prefix=key, return_arrow=False):
            yield from chunk

    @_requests
    def exists(self, uri: str) -> bool:
        key = self.key(uri)
        return self._head(key) is not None or self.isdir(uri)

    @_requests
    def isdir(self, uri: str) -> bool:
        return next(self._list(self.key(uri)), None) is not None

    @_requests
    def listdir(self, uri: str) -> list[str]:
        import obstore

        key = self.key(uri)
        listing = obstore.list_with_delimiter(self._store, key)
        names = [path.rsplit("/", 1)[-1] for path in listing["common_prefixes"]]
        names += [meta["path"].rsplit("/", 1)[-1] for meta in listing["objects"]]
        if not names and self._head(key) is None:
            raise FileNotFoundError(f"No folder at {uri}.")
        return sorted(names)

    @_requests
    def walk(self, uri: str) -> Iterator[tuple[str, int]]:
        key = self.key(uri)
        found = sorted((meta["path"][len(key) + 1 :], int(meta["size"])) for meta in self._list(key))
        if found:
            yield from found
            return
        meta = self._head(key)
        if meta is not None:
            yield "", int(meta["size"])

    def makedirs(self, uri: str) -> None:
        self.key(uri)  # folders do not exist in an object store; the uri is still checked

    @_requests
    def remove(self, uri: str) -> None:
        import obstore

        key = self.key(uri)
        keys = [meta["path"] for meta in self._list(key)]
        if self._head(key) is not None:
            keys.append(key)
        for start in range(0, len(keys), _DELETE_BATCH):
            obstore.delete(self._store, keys[start : start + _DELETE_BATCH])

    @_requests
    def size(self, uri: str) -> int:
        key = self.key(uri)
        meta = self._head(key)
        if meta is not None:
            return int(meta["size"])
        files = list(self.walk(uri))
        if not files:
            raise FileNotFoundError(f"Nothing is stored at {uri}.")
        return sum(size for _, size in files)

    @_requests
    def stat(self, uri: str) -> dict[str, Any]:
        """obstore's metadata of the object at `uri` (path, size, last_modified, e_tag, version)."""
        meta = self._head(self.key(uri))
        if meta is None:
            raise FileNotFoundError(f"No object at {uri}.")
        return dict(meta)

    @_requests
    def rename(self, source: str, target: str) -> None:
        import obstore

        obstore.rename(self._store, self.key(source), self.key(target))

    @_requests
    def copy(self, source: str, target: str) -> None:
        import obstore

        obstore.copy(self._store, self.key(source), self.key(target))

    def check_reachable(self) -> None:
        """List the prefix and write and delete a probe object, each tried once, from a
        fresh helper process (see `isolate_this_process` for why)."""
        _in_helper(self, "_check_reachable")

    def _check_reachable(self) -> None:
        import obstore

        client = self._make_client(retry_timeout=timedelta(seconds=10), max_retries=0)
        probe = (
            f"{self.prefix}/.reachable-{secrets.token_hex(6)}" if self.prefix else f".reachable-{secrets.token_hex(6)}"
        )
        try:
            obstore.list_with_delimiter(client, self.prefix or None)
            obstore.put(client, probe, b"")
            obstore.delete(client, probe)
        except Exception as exc:
            raise StoreUnreachable(
                f"The artifact store {self.url} cannot be reached: {_first_line(exc)}. Check the bucket "
                "exists and this process has its credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or "
                "the instance role for s3://, AWS_ENDPOINT_URL for an S3-compatible service)."
            ) from exc


class _ObjectReader(io.RawIOBase):
    """An object as a standard raw file (bytes out, seekable), read by streaming GETs.

    Reading in order streams one ranged GET of up to READ_WINDOW bytes after another,
    as fast as one plain GET (obstore's ranged reader asks again for every buffer, a
    round trip per MiB); a seek elsewhere drops the stream and the next read starts
    a new one there. The window bounds each request's length, so a slow link or a
    huge object never runs a single request past the client's timeout.
    """

    def __init__(self, client: Any, key: str, uri: str) -> None:
        super().__init__()
        self._client = client
        self._key = key
        self._uri = uri
        self._position = 0
        self._size: int | None = None
        self._stream: Iterator[bytes] | None = None
        self._window_end = 0
        self._chunk = memoryview(b"")
        self._etag: str | None = None
        self._modified: tuple[Any, Any] = (None, None)
        # The first request now, so a missing object fails the open, as a missing file does.
        self._next_chunk()

    @property
    def identity(self) -> tuple[Any, ...] | None:
        """(size, ETag, Last-Modified, version) of the object being read, once a GET
        returned it (see `note_verified`). A new upload changes Last-Modified, which
        no client sets, whatever its ETag (an MD5 for single uploads)."""
        if self._size is None or not self._etag:
            return None
        return (self._size, self._etag, *self._modified)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _object_size(self) -> int:
        if self._size is None:
            import obstore

            with _translated(self._uri):
                self._size = int(obstore.head(self._client, self._key)["size"])
        return self._size

    def _next_chunk(self) -> bool:
        """Make the next bytes at the position current; False at the end of the object."""
        import obstore
        import obstore.exceptions

        while True:
            if self._stream is not None:
                with _translated(self._uri):
                    chunk = next(self._stream, None)
                if chunk is not None:
                    self._chunk = memoryview(chunk)
                    return True
                self._stream = None
                if self._size is not None and self._position >= self._size:
                    return False
                if self._position < self._window_end:
                    raise ObjectStoreError(f"{self._uri}: the object ended early (it changed while it was read).")
            if self._position > 0 and self._position >= self._object_size():
                return False
            end = self._position + READ_WINDOW
            with _translated(self._uri):
                options: dict[str, Any] = {"range": (self._position, end)}
                if self._etag:
                    # Every window from the object the first one came from: one that was
                    # replaced meanwhile fails the read instead of mixing two objects.
                    options["if_match"] = self._etag
                try:
                    result = obstore.get(self._client, self._key, options=options)
                except obstore.exceptions.NotFoundError:
                    raise
                except obstore.exceptions.BaseError:
                    # S3 refuses any range of an empty object.
                    if self._position == 0 and self._object_size() == 0:
                        return False
                    raise
                self._size = int(result.meta["size"])
                if self._etag is None:
                    self._etag = result.meta.get("e_tag")
                    self._modified = (result.meta.get("last_modified"), result.meta.get("version"))
                self._window_end = min(end, self._size)
                self._stream = iter(result.stream(min_chunk_size=STREAM_CHUNK))

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not view:
            return 0
        if not self._chunk and not self._next_chunk():
            return 0
        count = min(len(view), len(self._chunk))
        view[:count] = self._chunk[:count]
        self._chunk = self._chunk[count:]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._position + offset
        elif whence == io.SEEK_END:
            target = self._object_size() + offset
        else:
            raise ValueError(f"Invalid whence ({whence}).")
        if target < 0:
            raise OSError(f"{self._uri}: cannot seek to {target}.")
        if target != self._position:
            self._stream = None
            self._chunk = memoryview(b"")
            self._position = target
        return target

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._stream = None
        self._chunk = memoryview(b"")
        super().close()


class _ObjectWriter(StreamingWriter):
    """A multipart upload (a single PUT when small) completed only on a clean close."""

    def __init__(self, client: Any, key: str, record_key: str) -> None:
        import obstore

        super().__init__(record_key)
        self._uri = record_key
        self._writer = obstore.open_writer(client, key, buffer_size=PART_SIZE, max_concurrency=PARTS_IN_FLIGHT)

    def _sink_write(self, data: memoryview) -> None:
        # obstore keeps a reference to what it is given until its part is uploaded;
        # handing it part-sized copies lets the caller's (often larger) chunk go.
        with _translated(self._uri):
            for start in range(0, len(data), PART_SIZE):
                self._writer.write(bytes(data[start : start + PART_SIZE]))

    def _sink_commit(self) -> None:
        with _translated(self._uri):
            self._writer.close()

    def _sink_abort(self) -> None:
        # obstore's writer aborts the multipart upload when its block ends in an error.
        error = RuntimeError("write aborted")
        self._writer.__exit__(RuntimeError, error, None)
