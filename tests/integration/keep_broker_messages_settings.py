"""Test settings for a worker that keeps every broker message it consumes (under
broker/kept/), so a test can read all that went through the broker."""

from __future__ import annotations

from config.settings.test import *  # noqa: F403
from config.settings.test import BROKER_DIR, CELERY_BROKER_TRANSPORT_OPTIONS

KEPT_MESSAGES_DIR = BROKER_DIR / "kept"
KEPT_MESSAGES_DIR.mkdir(parents=True, exist_ok=True)

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "store_processed": True,
    # On the broker's own filesystem: consumers claim messages by renaming them here.
    "processed_folder": str(KEPT_MESSAGES_DIR),
}
