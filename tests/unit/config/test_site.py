"""Site-wide odds and ends."""

from __future__ import annotations


def test_favicon_ico_points_browsers_at_the_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("dashboard/favicon.svg")
