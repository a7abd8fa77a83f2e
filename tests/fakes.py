"""Stand-ins for what crosses a process boundary we do not own."""

from __future__ import annotations

from pipelines.engine.executor import step_run_execute


class FakeBroker:
    """Takes the place of `pipelines.dispatch.send_step`: nothing leaves the process.

    `sent` holds the step run ids in the order they were sent and `sent_to` the same
    sends as (id, queue) pairs; tests consume and clear them as they please (the two
    are separate lists). While `down()`, every send raises the way a lost broker
    connection does and its id lands in `refused` instead.
    """

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.sent_to: list[tuple[int, str]] = []
        self.refused: list[int] = []
        self.is_down = False

    def send_step(self, step_run_id: int, *, queue: str) -> None:
        if self.is_down:
            self.refused.append(step_run_id)
            # What kombu raises when the connection is refused (an OSError, which the
            # reaper catches to stop a pass at the first refusal).
            raise ConnectionError("broker unreachable")
        self.sent.append(step_run_id)
        self.sent_to.append((step_run_id, queue))

    def down(self) -> None:
        self.is_down = True

    def up(self) -> None:
        self.is_down = False

    def drain(self) -> None:
        """Deliver every sent message in order, including those the steps send meanwhile."""
        while self.sent:
            step_run_execute(step_run_id=self.sent.pop(0))
