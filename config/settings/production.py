"""Production: every secret must come from the environment (or NAME_FILE)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.env import env, fernet_keys
from config.settings.base import *  # noqa: F403

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
FERNET_KEYS = fernet_keys()
if not FERNET_KEYS:
    raise ImproperlyConfigured(
        "Set FERNET_KEYS (comma-separated, newest first) or FERNET_KEYS_FILE (one key per line): "
        "they encrypt secret values at rest. Generate a key with: "
        'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
    )
DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
PIPELINES["TRUST_RUN_SOURCE_ROOT"] = env.bool(  # noqa: F405
    "PIPELINES_TRUST_RUN_SOURCE_ROOT", default=False
)
