"""The embedded broker delivers every message exactly once across processes."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from kombu import Connection

TRANSPORT = "pipelines.kombu_filesystem:Transport"


def _connection(folder: str) -> Connection:
    return Connection(
        transport=TRANSPORT,
        transport_options={
            "data_folder_in": os.path.join(folder, "queue"),
            "data_folder_out": os.path.join(folder, "queue"),
            "processed_folder": os.path.join(folder, "processed"),
            "control_folder": os.path.join(folder, "control"),
            "store_processed": False,
        },
    )


def _produce(folder: str, start: int, count: int) -> None:
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("steps")
        for number in range(start, start + count):
            queue.put({"n": number})


def _consume(folder: str, results: multiprocessing.Queue, produced: multiprocessing.Event) -> None:
    # Consumes until the producers are done and the queue has stayed empty a while;
    # waiting for `produced` keeps a slow start (a loaded machine) from ending it early.
    received = []
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("steps")
        misses = 0
        while not (produced.is_set() and misses >= 20):
            try:
                message = queue.get(timeout=0.05)
            except queue.Empty:
                misses += 1
                continue
            misses = 0
            received.append(message.payload["n"])
            message.ack()
    results.put(received)


@pytest.fixture
def broker_folder(tmp_path):
    for name in ("queue", "processed"):
        (tmp_path / name).mkdir()
    return str(tmp_path)


def test_concurrent_producers_and_consumers_deliver_each_message_exactly_once(broker_folder):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    produced = context.Event()
    consumers = [context.Process(target=_consume, args=(broker_folder, results, produced)) for _ in range(3)]
    producers = [context.Process(target=_produce, args=(broker_folder, i * 100, 100)) for i in range(4)]
    for process in consumers + producers:
        process.start()
    for process in producers:
        process.join(60)
        assert process.exitcode == 0
    produced.set()
    received = []
    for _ in consumers:
        received.extend(results.get(timeout=60))
    for process in consumers:
        process.join(30)
        assert process.exitcode == 0

    assert sorted(received) == list(range(400))


def test_a_message_file_is_visible_to_consumers_only_once_it_is_complete(broker_folder, monkeypatch):
    from kombu.utils import json as kombu_json

    import pipelines.kombu_filesystem as transport

    visible_while_writing = []

    def spying_dumps(payload):
        # Called while the producer is writing the message: what a consumer listing
        # the folder at this moment could take.
        folder = os.path.join(broker_folder, "queue")
        visible_while_writing.extend(n for n in os.listdir(folder) if n.partition(".")[2] == "steps.msg")
        return kombu_json.dumps(payload)

    monkeypatch.setattr(transport, "dumps", spying_dumps)
    _produce(broker_folder, 7, 1)

    assert visible_while_writing == []
    with _connection(broker_folder) as connection:
        queue = connection.SimpleQueue("steps")
        message = queue.get(timeout=1)
        assert message.payload == {"n": 7}
        message.ack()
    assert os.listdir(os.path.join(broker_folder, "processed")) == []
