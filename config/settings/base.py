"""Settings shared by every environment.

With no variables set this is the embedded default: SQLite (WAL) and kombu's
filesystem broker under PIPELINES_DATA_DIR. DATABASE_URL and CELERY_BROKER_URL switch
the same code to PostgreSQL and Redis or RabbitMQ.
"""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import BASE_DIR, data_dir, env, fernet_keys

# Importing these settings writes nothing (a settings import may happen in any
# process, or in a tool that only reads them): the folders named here are made by
# `pipelines.apps` when a process starts (see LOCAL_FOLDERS), keys on first use.
DATA_DIR = data_dir()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# Keys that encrypt secret values at rest, newest first; kept apart from SECRET_KEY.
# Empty here; the embedded default (local, test) generates one, production requires them.
FERNET_KEYS = fernet_keys()
# The keys are Fernet keys already (see config.env.fernet_keys), used as they are.
FERNET_USE_HKDF = False
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI and Redoc as pinned static files: /api/docs/ fetches nothing from a CDN.
    "drf_spectacular_sidecar",
    "axes",
    "django_filters",
    # Celery beat's schedule in the database: `celery -A config beat` is the one scheduler.
    "django_celery_beat",
    "pipelines",
    "secrets_app",
    "dashboard",
]

MIDDLEWARE = [
    # /healthz and /readyz, answered before the host check and the HTTPS redirect:
    # load balancers ask by address over plain http (pipelines/api/health.py).
    "pipelines.api.health.HealthProbes",
    # Request latency by route pattern, for /metrics.
    "pipelines.api.health.RequestLatency",
    "django.middleware.security.SecurityMiddleware",
    # NUL in paths and queries (PostgreSQL refuses them), API bodies over the limit, JSON errors under /api/.
    "pipelines.api.middleware.RequestGuard",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp's, but for the API's JSON answers (pipelines/api/middleware.py).
    "pipelines.api.middleware.ContentSecurityPolicy",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _sqlite(path: str) -> dict:
    # WAL lets readers (the dashboard, long-polling clients) proceed while a worker
    # writes; IMMEDIATE transactions take the write lock up front so two writers
    # never deadlock upgrading a read lock, and the timeout makes them queue.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
    }


if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    # A kept connection is checked (SELECT 1) before its first use in each request
    # and task: without it, after PostgreSQL restarts every kept connection fails
    # the request or step bookkeeping that uses it first (CONN_MAX_AGE only drops
    # connections by age or after such an error). The check costs this process
    # ~25 µs of CPU per request (measured 2026-12): kept.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"] = _sqlite(DATABASES["default"]["NAME"])
else:
    DATABASES = {"default": _sqlite(str(DATA_DIR / "db.sqlite3"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

# --- Login rate limit (django-axes) ------------------------------------------
# Failed logins on the dashboard's and the admin's login forms are counted per
# (username, client address); at the limit that pair is locked out for a fixed time
# and gets the lockout page (429). API tokens never pass through Django's login, so
# programs are not affected. Behind reverse proxies, PIPELINES_PROXY_COUNT says how
# many append to X-Forwarded-For (config.lockout.client_address); left at 0 there,
# every client has the proxy's address and the lock works per username alone.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("PIPELINES_LOGIN_FAILURE_LIMIT", default=5)
_lockout_minutes = env.float("PIPELINES_LOGIN_LOCKOUT_MINUTES", default=15.0)
if AXES_FAILURE_LIMIT < 1 or _lockout_minutes <= 0:
    raise ImproperlyConfigured(
        "PIPELINES_LOGIN_FAILURE_LIMIT must be at least 1 and PIPELINES_LOGIN_LOCKOUT_MINUTES above 0 "
        f"(got {AXES_FAILURE_LIMIT} and {_lockout_minutes})."
    )
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The stated time holds: tries during a lockout do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.locked_out_response"
TRUSTED_PROXY_COUNT = env.int("PIPELINES_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"PIPELINES_PROXY_COUNT must be 0 or more (got {TRUSTED_PROXY_COUNT}).")
AXES_CLIENT_IP_CALLABLE = "config.lockout.client_address"

# --- Content-Security-Policy (django-csp) -------------------------------------
# Every script and style is a static file of our own (the dashboard's, the admin's,
# the Swagger UI sidecar's), so nothing inline is allowed. `data:` images are the
# icons inside Swagger UI's stylesheet. A response that sets its own policy keeps it
# (the sandboxed artifact preview does).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pipelines.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "pipelines.api.permissions.RunTokensOnlyRead",
    ],
    "DEFAULT_PAGINATION_CLASS": "pipelines.api.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    # An unknown query parameter or ordering field is a 400 listing the valid ones.
    "DEFAULT_FILTER_BACKENDS": [
        "pipelines.api.filters.KnownParametersFilterBackend",
        "pipelines.api.filters.StrictOrderingFilter",
    ],
    # JSON only (bounded in size and depth, no NUL): the views read nothing else, and
    # the schema offers what the parsers accept.
    "DEFAULT_PARSER_CLASSES": ["pipelines.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "pipelines.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "pipelines.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

# The one limit on a request body, for the API's JSON parser (pipelines/api/parsers.py)
# and Django's forms alike; bigger bodies get 413. Sized for the largest spec the API
# accepts: MAX_STEPS (10,000, pipelines/sdk/spec.py) steps of up to ~1.6 KiB each.
# Django's default of 2.5 MiB refused specs from about 5,200 steps.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024

SPECTACULAR_SETTINGS = {
    "TITLE": "Pipelines API",
    "DESCRIPTION": "Pipelines, runs, steps and artifacts of the pipelines server.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "pipelines.models.RunStatus",
        "StepStatusEnum": "pipelines.models.StepStatus",
    },
}

# The Swagger UI and Redoc files come from the pinned drf-spectacular-sidecar package.
SPECTACULAR_SETTINGS |= {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No "valid" badge from validator.swagger.io: it would send our schema's address away.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Celery -----------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# Folders of this machine that a process needs before it serves or works: made by
# `pipelines.apps` at start (whitenoise wants STATIC_ROOT to exist, SQLite its folder).
LOCAL_FOLDERS = [DATA_DIR, STATIC_ROOT]
if CELERY_BROKER_URL.startswith("filesystem://"):
    LOCAL_FOLDERS += [BROKER_DIR / _sub for _sub in ("queue", "processed", "control")]
    # kombu's own filesystem transport races between processes; see the module.
    CELERY_BROKER_TRANSPORT = "pipelines.kombu_filesystem:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The filesystem transport polls its folder; 1 s (the default) would add
        # up to a second of latency to every step. A listing of a near-empty folder
        # costs microseconds, so polling often is cheap.
        "polling_interval": 0.005,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis redelivers a message that is not acknowledged within this time, and
        # steps acknowledge only when they end (acks_late). A step running longer
        # would be delivered again while it runs: harmless, since the claim turns the
        # duplicate into a no-op, but wasteful. Crash recovery does not depend on it
        # (heartbeats and the reaper do that), so it can be far above the longest
        # step you expect.
        "visibility_timeout": env.int("PIPELINES_REDIS_VISIBILITY_TIMEOUT", default=24 * 3600),
    }
else:
    # RabbitMQ closes a channel whose delivery stays unacknowledged for longer than
    # its consumer_timeout (30 min by default); with acks_late that would cut steps
    # that run longer. The timeout is a broker setting (RabbitMQ < 3.12 has no
    # per-queue override): set `consumer_timeout` in rabbitmq.conf above your
    # longest step, as the README's scaling section shows.
    CELERY_BROKER_TRANSPORT_OPTIONS = {}

# Our own tables hold the truth about every step; no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# A step's message is acknowledged only after the step ran, so a worker that dies
# mid-step does not lose it; prefetching one means a long step never holds others
# hostage in a busy worker's buffer.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection around every task unless
# told to reuse them; a new PostgreSQL connection costs ~4 ms, more than the rest
# of a step's bookkeeping. Connections are still recycled per CONN_MAX_AGE and
# health-checked (pipelines.worker_signals).
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = "UTC"
# `celery -A config beat` keeps its schedule in the database (django-celery-beat), so
# a restarted scheduler knows what it sent. Schedules of ours (pipelines.Schedule)
# are fired by the beat process itself, every second (pipelines.beat), not through a
# worker slot, so they start on time while every slot runs a long step; firing is
# idempotent per (schedule, due time), so a second beat process starts nothing twice.
CELERY_BEAT_SCHEDULER = "pipelines.beat:PipelinesScheduler"
CELERY_BEAT_SCHEDULE = {}
# Each pipeline's retention settings (keep N runs / D days), applied once a day at
# PIPELINES_RETENTION_HOUR o'clock UTC by prune_by_retention (safe to run twice).
_RETENTION_HOUR = env.int("PIPELINES_RETENTION_HOUR", default=3)
if not 0 <= _RETENTION_HOUR <= 23:
    raise ImproperlyConfigured(
        f"PIPELINES_RETENTION_HOUR={_RETENTION_HOUR} is not an hour: give 0-23 (UTC) for the daily retention prune."
    )
CELERY_BEAT_SCHEDULE["pipelines-prune-by-retention"] = {
    "task": "pipelines.prune_by_retention",
    "schedule": crontab(minute=0, hour=_RETENTION_HOUR),
    # Missed by more than an hour (beat was down): tomorrow's does the work.
    "options": {"expires": 3600.0},
}


# --- The product's own knobs ---------------------------------------------------
def _demo_server_url() -> str:
    import json

    try:
        return json.loads((DATA_DIR / "client.json").read_text())["server_url"]
    except (OSError, ValueError, KeyError):
        return "http://127.0.0.1:8000"


PIPELINES = {
    # Where new artifact versions are written: an absolute path (the default) or
    # s3://bucket/prefix (gs://, az:// too). Every worker and the server must reach it;
    # versions written before it changed stay readable in the store they were written to.
    "ARTIFACT_STORE": env.str("PIPELINES_ARTIFACT_STORE", default=str(DATA_DIR / "artifacts")),
    # Extra folders (os.pathsep-separated) workers add to sys.path to import steps.
    "SOURCE_ROOTS": env.str("PIPELINES_SOURCE_ROOT", default=""),
    # Whether a worker may add the source root a run was submitted from to its
    # import path. True on a single machine (the embedded default), where that
    # folder is the user's own; off in production, where workers import only from
    # their own deployed code.
    "TRUST_RUN_SOURCE_ROOT": env.bool("PIPELINES_TRUST_RUN_SOURCE_ROOT", default=True),
    # A worker that has not heartbeated for this long counts as gone.
    "WORKER_HEARTBEAT_INTERVAL": env.float("PIPELINES_WORKER_HEARTBEAT_INTERVAL", default=2.0),
    "WORKER_TIMEOUT": env.float("PIPELINES_WORKER_TIMEOUT", default=10.0),
    # The broker queue steps are sent to; start workers with `-Q` naming it.
    "QUEUE": env.str("PIPELINES_QUEUE", default="pipelines"),
    # A running step writes a heartbeat this often; one silent for longer than the
    # timeout is taken as crashed (its worker died) and retried under the crash
    # budget. The timeout must cover a busy database and a long GC pause: a step
    # declared crashed while alive loses its work, since fencing refuses its result.
    "STEP_HEARTBEAT_INTERVAL": env.float("PIPELINES_STEP_HEARTBEAT_INTERVAL", default=10.0),
    "STEP_HEARTBEAT_TIMEOUT": env.float("PIPELINES_STEP_HEARTBEAT_TIMEOUT", default=60.0),
    # How often a running step's log (when it grew) is stored, for the dashboard's live tail.
    "LOG_FLUSH_INTERVAL": env.float("PIPELINES_LOG_FLUSH_INTERVAL", default=2.0),
    "CRASH_BUDGET": env.int("PIPELINES_CRASH_BUDGET", default=2),
    # How often each worker runs the reaper (crashed steps, due retries, lost
    # messages, abandoned files).
    "REAPER_INTERVAL": env.float("PIPELINES_REAPER_INTERVAL", default=5.0),
    # A queued step whose message was never handed to the broker is sent again
    # after this long.
    "REDISPATCH_AFTER": env.float("PIPELINES_REDISPATCH_AFTER", default=30.0),
    # A queued step the broker took but nobody claimed is sent again this long after
    # its last send (a broker restarted without persistence, or a deleted queue, lost
    # it), then after as long as it had waited, up to the longest interval: a lost
    # message is replaced within REQUEUE_MAX_INTERVAL + REAPER_INTERVAL at the latest,
    # and a step that merely waits behind busy workers is sent a few times, not flooded.
    "REQUEUE_AFTER": env.float("PIPELINES_REQUEUE_AFTER", default=60.0),
    "REQUEUE_MAX_INTERVAL": env.float("PIPELINES_REQUEUE_MAX_INTERVAL", default=600.0),
    # Where steps reach the API (Client() inside a step, with a run-scoped token).
    # Defaults to what `make demo` wrote into client.json, then the local default.
    "SERVER_URL": env.str("PIPELINES_SERVER_URL", default="") or _demo_server_url(),
    # When a step's end makes another step ready, the worker runs that one itself
    # (other ready steps still go to the broker for any worker): a chain then costs
    # no broker round trip per step. Crash safety is unchanged: the step is claimed,
    # heartbeats and is reaped like any other.
    "RUN_NEXT_STEP_INLINE": env.bool("PIPELINES_RUN_NEXT_STEP_INLINE", default=True),
    # A worker whose copy of a step's code differs from the code the run was
    # submitted with (its code hash) fails the step; true (for development) runs the
    # worker's copy anyway, with a warning in the step's log.
    "ALLOW_CODE_MISMATCH": env.bool("PIPELINES_ALLOW_CODE_MISMATCH", default=False),
    # The statements every step runs are prepared once per database connection on
    # PostgreSQL (pipelines.services.hot_sql); false for a connection pooler that
    # cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
    "DB_PREPARED_STATEMENTS": env.bool("PIPELINES_DB_PREPARED_STATEMENTS", default=True),
    # Longest a client's wait request is held open before it asks again.
    "LONG_POLL_SECONDS": env.float("PIPELINES_LONG_POLL_SECONDS", default=20.0),
    # The bearer token that opens /metrics (also PIPELINES_METRICS_TOKEN_FILE); unset,
    # /metrics refuses everyone. Stripped: a token file written by an editor ends in a
    # newline that no Authorization header carries.
    "METRICS_TOKEN": env.str("PIPELINES_METRICS_TOKEN", default="").strip(),
}

if not 0 < PIPELINES["REQUEUE_AFTER"] <= PIPELINES["REQUEUE_MAX_INTERVAL"]:
    raise ImproperlyConfigured(
        "PIPELINES_REQUEUE_AFTER must be above 0 and at most PIPELINES_REQUEUE_MAX_INTERVAL "
        f"(got {PIPELINES['REQUEUE_AFTER']} and {PIPELINES['REQUEUE_MAX_INTERVAL']} seconds)."
    )


def _check_artifact_store_url(url: str) -> None:
    # The form only: whether the store answers is the system check pipelines.E010.
    from pipelines.sdk.stores import StoreConfigError, check_store_url

    try:
        check_store_url(url)
    except StoreConfigError as exc:
        raise ImproperlyConfigured(f"PIPELINES_ARTIFACT_STORE: {exc}") from None


_check_artifact_store_url(PIPELINES["ARTIFACT_STORE"])

# Workers consume the step queue by default (`celery -A config worker`).
CELERY_TASK_DEFAULT_QUEUE = PIPELINES["QUEUE"]
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every login and its start-up at INFO; failures past the
        # limit and lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}
