"""What the demo prints: progress lines, a child's last log lines, the banner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config.env import BASE_DIR
from pipelines.demo.setup import AdminAccount
from pipelines.supervisor import Child, log_tail


def indent(text: str, prefix: str = "  | ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


class Printer:
    """The command's stdout and colour style, flushed after every line."""

    def __init__(self, stdout: Any, style: Any) -> None:
        self.stdout = stdout
        self.style = style

    def say(self, message: str, ending: str = "\n") -> None:
        # Flushed at once: behind `make` or in CI, stdout is a pipe and would otherwise
        # hold progress lines back until the demo ends.
        self.stdout.write(message, ending=ending)
        self.stdout.flush()

    def success(self, message: str) -> None:
        self.say(self.style.SUCCESS(message))

    def warning(self, message: str) -> None:
        self.say(self.style.WARNING(message))

    def error(self, message: str) -> None:
        self.say(self.style.ERROR(message))

    def log_of(self, path: Path) -> None:
        self.say(f"Last lines of {path}:")
        self.say(indent(log_tail(path)))

    def child_exited(self, child: Child) -> str:
        message = f"The {child.name} exited unexpectedly (status {child.process.returncode})."
        self.error(message)
        self.log_of(child.log_path)
        return message

    def banner(self, *, server_url: str, account: AdminAccount, client_path: Path, logs: Path) -> None:
        python = ".venv/bin/python" if (BASE_DIR / ".venv").is_dir() else "python"
        rule = "=" * 72
        lines = [
            rule,
            "  Pipelines is running.",
            "",
            f"  Dashboard    {server_url}/",
            f"  Admin        {server_url}/admin/",
            f"  API docs     {server_url}/api/docs/",
            f"  Log in as    {account.login_hint()}",
            f"  SDK config   {client_path}",
            f"  Logs         {logs}/web.log, {logs}/worker.log",
            "",
            "  Run a pipeline from another terminal (in this folder):",
            f"    {python} examples/quickstart.py",
            "",
            "  Ctrl-C to stop.",
            rule,
        ]
        self.say("\n".join(lines))
