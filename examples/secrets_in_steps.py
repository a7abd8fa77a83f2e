"""The reference page "Fetching secret values in a step", with `zenml` replaced by
`pipelines` (shared/reference/step-context-guide.md).

The step reads the secret `demo_api` through the Client, as the page shows, and
hands its values to a stand-in for "some API". `make demo` creates the secret (with
made-up values); run alone, this script creates it if it is missing. Whatever the
step prints of the values shows as `****` in its log on the step's page.

    .venv/bin/python examples/secrets_in_steps.py
"""

from __future__ import annotations

from typing import Annotated

from pipelines import pipeline, step
from pipelines.client import Client

SECRET_NAME = "demo_api"
# Made up: the stand-in API below accepts anything that is not empty.
MADE_UP_VALUES = {"username": "demo-user", "password": "not-a-real-password"}


def authenticate_to_some_api(*, username: str, password: str) -> dict:
    """Stands in for a real API client: it only checks that it got credentials."""
    if not username or not password:
        raise ValueError("authenticate_to_some_api needs a username and a password.")
    print(f"Logging in to some API as {username} with password {password}")  # masked in the step's log
    return {"username": username, "authenticated": True}


@step
def secret_loader() -> Annotated[dict, "session"]:
    """Load the example secret from the server."""
    # Fetch the secret from the server.
    secret = Client().get_secret(SECRET_NAME)

    # `secret.secret_values` will contain a dictionary with all key-value
    # pairs within your secret.
    return authenticate_to_some_api(
        username=secret.secret_values["username"],
        password=secret.secret_values["password"],
    )


@pipeline(enable_cache=False)
def secret_pipeline():
    secret_loader()


def ensure_secret() -> None:
    client = Client()
    if not client.list_secrets(name=SECRET_NAME).total:
        client.create_secret(SECRET_NAME, MADE_UP_VALUES, description="Made-up credentials for the secrets example")


if __name__ == "__main__":
    ensure_secret()
    run = secret_pipeline()
    print("the step authenticated:", run.steps["secret_loader"].output.load())
