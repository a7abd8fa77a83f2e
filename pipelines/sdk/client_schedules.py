"""The Client's methods for schedules (list_schedules, get_schedule, update_schedule, delete_schedule).

A mixin of `pipelines.sdk.client.Client`: its methods use the Client's `_request` and
`_list`, and are documented as the Client's own.
"""

from __future__ import annotations


class ScheduleMethods:
    pass
