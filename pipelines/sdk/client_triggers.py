"""The Client's methods for starting a run of a stored pipeline without its code (trigger_pipeline).

A mixin of `pipelines.sdk.client.Client`: its methods use the Client's `_request` and
`_list`, and are documented as the Client's own.
"""

from __future__ import annotations


class TriggerMethods:
    pass
