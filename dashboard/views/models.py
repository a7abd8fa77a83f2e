"""PLACEHOLDER: being built this session; every view answers 404 until then."""

from __future__ import annotations

from django.http import Http404


def model_list(request, **kwargs):
    raise Http404("not built yet")


def model_detail(request, **kwargs):
    raise Http404("not built yet")


def model_version_detail(request, **kwargs):
    raise Http404("not built yet")


def model_version_stage(request, **kwargs):
    raise Http404("not built yet")
