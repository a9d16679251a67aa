"""FleetMon settings: every deployment knob is an environment variable (see README)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
import redis
from django.core.exceptions import ImproperlyConfigured

from fleetmon_project.brokers import is_amqp, transport_options
from fleetmon_project.env import env_bool, env_duration, env_float, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("FLEETMON_DATA_DIR", str(BASE_DIR / "var")))


def _secret_key() -> str:
    """An explicit SECRET_KEY wins; otherwise a random one kept beside the data so that
    a fresh `make run` is secure without setup and sessions survive restarts."""
    explicit = env_str("SECRET_KEY", "")
    if explicit:
        return explicit
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind a TLS-terminating proxy (deploy/nginx/fleetmon.conf), links and redirects must use the
# client's scheme and host. Only a proxy that overwrites these headers may be trusted with them:
# reachable directly, a client could forge them.
if env_bool("FLEETMON_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "telemetry",
    "monitors",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fleetmon_project.urls"
WSGI_APPLICATION = "fleetmon_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "fleetmon_project" / "templates"],
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

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'fleetmon.sqlite3'}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
except Exception as exc:  # dj_database_url raises bare ValueErrors/KeyErrors on bad schemes
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} is not a usable database URL: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # SQLite serialises writers; a busy timeout lets the web, worker and beat processes share it.
    _database.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    _database["CONN_MAX_AGE"] = 0
else:
    # A persistent connection is checked before reuse, so one broken by a database restart is
    # replaced instead of failing the next request or task.
    _database["CONN_HEALTH_CHECKS"] = True
    options = _database.setdefault("OPTIONS", {})
    # A database host that vanishes without closing its connections (an address moved by a
    # failover, a NAT that lost its state) would hang a query, the health check's SELECT 1
    # included, until the kernel gives up on the socket: about 15 minutes. Keepalives and
    # tcp_user_timeout bound that to about a minute; a query parameter of DATABASE_URL wins.
    for option, value in {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": 60_000,
    }.items():
        options.setdefault(option, value)
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        # The hot path sends the same few statements thousands of times a second. Bound on the
        # server, psycopg prepares a statement once it has run it five times on a connection,
        # and PostgreSQL can then reuse its plan instead of planning every execution: a third
        # of its CPU per task was planning. Off behind a PgBouncer in transaction mode, which
        # cannot keep a prepared statement for a client.
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 5)
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling counters must be shared by every web process in production) ----
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    try:  # parsed, not connected: a malformed URL would otherwise fail every request
        redis.ConnectionPool.from_url(CACHE_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: {exc}") from None
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL in ("", "locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use redis://host:port/db or leave it unset")

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
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/admin/login/"

# --- Admin login throttling (django-axes) -----------------------------------------------------
# Failed admin logins are counted per username and client address; at the limit, that pair is
# refused (even with the right password) for the cool-off period. Only the admin's login form:
# API requests are let through unrecorded (fleetmon_project.adminlogin), whatever
# authentication class they use.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("FLEETMON_ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("FLEETMON_ADMIN_LOGIN_COOLOFF", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_WHITELIST_CALLABLE = "fleetmon_project.adminlogin.outside_admin"
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"

# --- REST API ---------------------------------------------------------------------------
# Larger bodies answer 413. A batch of 1,000 points carrying every data key is about 1.7 MB
# compact; Django's 2.5 MiB default left under 1 KB a point for extension objects, or for
# pretty-printing.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
API_THROTTLE_RATE = env_rate("FLEETMON_API_THROTTLE_RATE", "6000/min")
TELEMETRY_THROTTLE_RATE = env_rate("FLEETMON_TELEMETRY_THROTTLE_RATE", "20000/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        # The reference's Basic + client_id; before sessions, so a client_id is never ignored.
        "telemetry.authentication.ApiClientAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["fleetmon_project.media.DepthLimitedJSONParser"],
    # `Accept: */*` and `application/json` get the first; the reference's clients ask for HAL.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "fleetmon_project.media.HalJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["fleetmon_project.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": API_THROTTLE_RATE, "telemetry": TELEMETRY_THROTTLE_RATE},
    "EXCEPTION_HANDLER": "fleetmon_project.errors.xerror_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FleetMon API",
    "DESCRIPTION": (
        "Event engine for connected-vehicle fleets. The monitor endpoints implement the "
        "Stellantis Connected Car B2B API monitor contract."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # One tag per resource (views say which), in the order a client meets them.
    "TAGS": [
        {"name": "fleets", "description": "Fleets you own"},
        {"name": "vehicles", "description": "A fleet's vehicles, by VIN"},
        {"name": "telemetry", "description": "Vehicle data points, the input of every monitor"},
        {"name": "monitors", "description": "The Stellantis monitor contract, and the events monitors raise"},
        {"name": "deliveries", "description": "Webhook deliveries of a monitor's events: log, replay, test"},
        {"name": "webhooks", "description": "The secret that signs a fleet's webhooks"},
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "fleetmon_project.openapi.forbid_unknown_request_fields",
        "fleetmon_project.openapi.add_monitor_components",
        "fleetmon_project.openapi.require_declared_bodies",
        "fleetmon_project.openapi.errors_are_plain_json",
    ],
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if not CELERY_BROKER_URL.startswith(("filesystem://", "redis://", "rediss://", "amqp://", "pyamqp://", "memory://")):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r}: use redis://, amqp:// or filesystem:// (memory:// in benchmarks)"
    )
# The longest a webhook attempt can take; the broker must not redeliver a task before that.
WEBHOOK_CONNECT_TIMEOUT = env_float("FLEETMON_WEBHOOK_CONNECT_TIMEOUT", 5.0, minimum=0.1)
WEBHOOK_READ_TIMEOUT = env_float("FLEETMON_WEBHOOK_READ_TIMEOUT", 15.0, minimum=0.1)
# How long the broker lets a worker hold a message unacknowledged before giving it to another:
# Redis's visibility timeout (set below), RabbitMQ's consumer_timeout (a server setting, 30 min
# by default: set this to match it). Countdown retries must stay well within it.
CELERY_VISIBILITY_TIMEOUT = env_int("FLEETMON_VISIBILITY_TIMEOUT", 1800 if is_amqp(CELERY_BROKER_URL) else 3600, minimum=60)
if CELERY_VISIBILITY_TIMEOUT <= WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT:
    raise ImproperlyConfigured("FLEETMON_VISIBILITY_TIMEOUT must exceed the webhook connect + read timeouts")

if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # The exchange table too, or kombu writes it to ./control wherever the process started.
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = transport_options(CELERY_BROKER_URL, visibility_timeout=CELERY_VISIBILITY_TIMEOUT)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes the database connection after every task unless told to reuse it; a new
# PostgreSQL connection per task would cost more than most evaluations. Django still drops
# connections older than DATABASE_CONN_MAX_AGE or broken ones.
CELERY_DB_REUSE_MAX = env_int("FLEETMON_DB_REUSE_MAX", 200, minimum=0)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "monitors.tasks.evaluate_*": {"queue": "evaluation"},
    "*.tasks.sweep_*": {"queue": "sweeps"},
    "notifications.tasks.deliver_*": {"queue": "webhooks"},
    "notifications.tasks.flush_*": {"queue": "webhooks"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- FleetMon -----------------------------------------------------------------------------
FLEETMON_ALLOW_PRIVATE_WEBHOOKS = env_bool("FLEETMON_ALLOW_PRIVATE_WEBHOOKS", False)
FLEETMON_REQUIRE_HTTPS_WEBHOOKS = env_bool("FLEETMON_REQUIRE_HTTPS_WEBHOOKS", False)
FLEETMON_ACTIVITY_WINDOW = env_int("FLEETMON_ACTIVITY_WINDOW", 300, minimum=1)
FLEETMON_SWEEP_INTERVAL = env_float("FLEETMON_SWEEP_INTERVAL", 5.0, minimum=0.5)
# Vehicles per evaluation task: large enough to amortise a task's fixed cost (its message, its
# transaction, the fleet's monitors read), small enough that several workers share a big batch.
# At most 1,000: a chunk is one transaction holding its vehicles' state rows, and one that fails
# is evaluated again vehicle by vehicle within one task.
FLEETMON_EVALUATION_CHUNK = env_int("FLEETMON_EVALUATION_CHUNK", 50, minimum=1, maximum=1000)
# Points never evaluated (a crash between commit and enqueue) are re-enqueued after this long.
FLEETMON_POINT_RESCUE_AFTER = env_int("FLEETMON_POINT_RESCUE_AFTER", 30, minimum=1)
# A vehicle's evaluation (or a window boundary's) that fails this many times is given up as a
# dead letter, kept for an operator to replay; until then a failed one is retried every
# FLEETMON_POINT_RESCUE_AFTER seconds.
FLEETMON_EVALUATION_MAX_ATTEMPTS = env_int("FLEETMON_EVALUATION_MAX_ATTEMPTS", 10, minimum=1)
# Backtests (POST …/monitors/backtest): the longest range and the most points one may replay.
FLEETMON_BACKTEST_MAX_RANGE = env_int("FLEETMON_BACKTEST_MAX_RANGE", 31 * 24 * 3600, minimum=1)
FLEETMON_BACKTEST_MAX_POINTS = env_int("FLEETMON_BACKTEST_MAX_POINTS", 1_000_000, minimum=1)
# Days a point is kept after it was received (PostgreSQL drops whole days: up to one more).
FLEETMON_TELEMETRY_RETENTION = env_int("FLEETMON_TELEMETRY_RETENTION", 30, minimum=1)
FLEETMON_EVENT_RETENTION = env_int("FLEETMON_EVENT_RETENTION", 3 * 24 * 3600, minimum=60)
FLEETMON_SECRET_ROTATION_GRACE = env_int("FLEETMON_SECRET_ROTATION_GRACE", 24 * 3600, minimum=0)
# Consecutive failed attempts after which a monitor shows status Failed (it recovers on success).
FLEETMON_FAILING_THRESHOLD = env_int("FLEETMON_FAILING_THRESHOLD", 5, minimum=1)
# A webhook failing without a single success for this long is disabled: its monitor turns
# Failed and nothing is attempted until an operator resumes the monitor or replays a delivery.
FLEETMON_ENDPOINT_DISABLE_AFTER = env_duration("FLEETMON_ENDPOINT_DISABLE_AFTER", 5 * 24 * 3600, minimum=60)
# A queued or in-flight webhook delivery belongs to its task for this long; after that the
# sweeper re-enqueues it (a lost broker message, a dead worker). It must outlast one attempt.
FLEETMON_DELIVERY_LEASE = env_float("FLEETMON_DELIVERY_LEASE", 60.0, minimum=1.0)
if FLEETMON_DELIVERY_LEASE <= WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT:
    raise ImproperlyConfigured("FLEETMON_DELIVERY_LEASE must exceed the webhook connect + read timeouts")

CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": FLEETMON_SWEEP_INTERVAL, "options": {"queue": "sweeps", "expires": 60}}
    for name, task in {
        "rescue-unevaluated-points": "monitors.tasks.sweep_unevaluated_points",
        "time-window-boundaries": "monitors.tasks.sweep_time_boundaries",
        "refresh-reminders": "monitors.tasks.sweep_refresh_reminders",
        "dwell-expiries": "monitors.tasks.sweep_dwell_expiries",
        "due-deliveries": "notifications.tasks.sweep_due_deliveries",
    }.items()
}
# Hourly: it creates partitions days ahead and drops whole days, so more often buys nothing.
CELERY_BEAT_SCHEDULE["telemetry-retention"] = {
    "task": "telemetry.tasks.sweep_telemetry_retention",
    "schedule": 3600.0,
    "options": {"queue": "sweeps", "expires": 3600},
}

# Optional bearer token for /metrics (leave unset when only Prometheus can reach the service).
FLEETMON_METRICS_TOKEN = env_str("FLEETMON_METRICS_TOKEN", "")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "context": {"()": "fleetmon_project.observability.ContextFormatter", "json_lines": LOG_FORMAT == "json"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "context"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
