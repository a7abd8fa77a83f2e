"""PLACEHOLDER: being built this session; every view answers 404 until then."""

from __future__ import annotations

from django.http import Http404


def metadata_explorer(request, **kwargs):
    raise Http404("not built yet")


def metadata_points(request, **kwargs):
    raise Http404("not built yet")
