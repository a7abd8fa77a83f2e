"""PLACEHOLDER: being built this session; every view answers 404 until then."""

from __future__ import annotations

from django.http import Http404


def artifact_list(request, **kwargs):
    raise Http404("not built yet")


def artifact_detail(request, **kwargs):
    raise Http404("not built yet")


def artifact_version_detail(request, **kwargs):
    raise Http404("not built yet")


def artifact_version_download(request, **kwargs):
    raise Http404("not built yet")


def artifact_version_preview(request, **kwargs):
    raise Http404("not built yet")
