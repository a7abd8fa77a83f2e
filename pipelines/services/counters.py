"""Counters of things that leave no row of their own, shared by every process.

Each increment is one UPDATE ... SET value = value + n: two workers counting at once
both land, where a read-then-write would lose one. The row is made by the first
increment of a name.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from pipelines.models import EventCounter


def event_counter_add(*, name: str, by: int = 1) -> None:
    """Add `by` to the counter `name` (nothing to do for 0)."""
    if by <= 0:
        return
    if EventCounter.objects.filter(name=name).update(value=F("value") + by):
        return
    try:
        with transaction.atomic():
            EventCounter.objects.create(name=name, value=by)
    except IntegrityError:  # another process made the row first: add to it
        EventCounter.objects.filter(name=name).update(value=F("value") + by)
