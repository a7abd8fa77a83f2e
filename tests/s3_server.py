"""A real S3 API on a free local port: moto's standalone server, as its own process.

The tests talk to it exactly as a deployment talks to AWS S3 or MinIO: over HTTP,
through obstore, with credentials, region and endpoint from the standard AWS
variables. Nothing reaches the internet. Used by the session fixture `s3_server` in
tests/conftest.py; each test gets a fresh bucket from the `s3_store_url` fixture.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipelines.supervisor import start_process, stop_processes

START_TIMEOUT = 30.0
# moto accepts any credentials; real-looking names keep obstore's signing path honest.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    endpoint: str
    log_path: Path

    @property
    def environ(self) -> dict[str, str]:
        """The variables a process needs to reach this server as its S3."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def create_bucket(self, name: str | None = None) -> str:
        # boto3 comes with moto[server]; the application itself never uses it.
        import boto3

        bucket = name or f"test-{uuid.uuid4().hex[:16]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=bucket)
        return bucket

    def stop(self) -> None:
        stop_processes([self.process], timeout=10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_s3_server(log_path: Path) -> S3Server:
    """Start moto's server on a free port and wait until it accepts connections."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    process = start_process(command, env=env, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited at start:\n{log_path.read_text(errors='replace')[-3000:]}")
        if _listening(port):
            return S3Server(process=process, endpoint=f"http://127.0.0.1:{port}", log_path=log_path)
        time.sleep(0.1)
    stop_processes([process], timeout=5)
    raise RuntimeError(f"moto's server did not listen on port {port} within {START_TIMEOUT:.0f} s.")
