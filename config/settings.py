"""Settings for every environment, driven by environment variables (see README).

Without any variable set this is the embedded default: SQLite in var/, an in-memory
channel layer, and Celery jobs passed through a folder in var/ to the worker and beat that
`manage.py start` runs beside the web server. With DATABASE_URL and REDIS_URL it is the
production shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import BASE_DIR, VAR_DIR, audit_hash_key, env, secret_key

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = secret_key()
AUDIT_HASH_KEY = audit_hash_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "pgtrigger",
    "django_htmx",
    "csp",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.workflows",
    "apps.humantasks",
    "apps.automation",
    "apps.notifications",
    "apps.inbox",
    "apps.live",
    "apps.ops",
    "apps.oversight",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "apps.api",
    "apps.webhooks",
]

MIDDLEWARE = [
    "apps.ops.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.security_headers.ContentSecurityPolicyMiddleware",
    "apps.core.security_headers.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.audit.middleware.AuditContextMiddleware",
    "apps.accounts.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "apps.accounts.context_processors.single_sign_on",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
# Seconds a web process keeps its database connection between requests. The WSGI server
# (config/gunicorn.conf.py) sets it: one thread holds one connection, and reconnecting cost a
# fifth of an API call's time. ASGI processes keep 0 (Django's advice: their connections would
# belong to whichever thread ran the last sync call).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def database_statements_prepared(database: dict[str, Any]) -> None:
    """PostgreSQL binds parameters itself and keeps the plans of statements a connection repeats.

    Planning the task lock's statement took longer than running it (~2-3 ms against ~0.3 ms), and
    the engine's statements are the same few shapes over and over: a statement is prepared on its
    second run and its plan reused for as long as the connection lives (docs/adr/prepared-statements.md).
    """
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    options = database.setdefault("OPTIONS", {})
    options.setdefault("server_side_binding", env.bool("DATABASE_SERVER_SIDE_BINDING", default=True))
    options.setdefault("prepare_threshold", env.int("DATABASE_PREPARE_THRESHOLD", default=1))


database_statements_prepared(DATABASES["default"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves a handful of people; wait for the write lock rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Its worker is another process writing the same file: take the write lock when a transaction
    # starts, so two writers queue up instead of one failing to upgrade a read lock ("database is locked").
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "apps.accounts.backends.PasswordSignInBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:home"
LOGOUT_REDIRECT_URL = "login"

# django-guardian: no anonymous user row; object permissions are for signed-in people only.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# The ASGI processes serve the static files themselves (WhiteNoise): no separate file server
# is needed in front of them. Collected (the production image), from STATIC_ROOT; not
# collected (the embedded default, a checkout), straight from the apps' and static/ folders.
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE.insert(_after_security, "whitenoise.middleware.WhiteNoiseMiddleware")
WHITENOISE_USE_FINDERS = not Path(STATIC_ROOT).is_dir()

# Cookies carry the Secure flag unless DJANGO_SECURE_COOKIES=false says the site is plain
# http (`manage.py start` on loopback sets it); DEBUG does not decide it.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere, no framing, nothing from other origins: JavaScript lives in
# static/js/, CSS in static/css/, data reaches scripts through data-* attributes or json_script.
# The site's own ws:/wss: origin is added per request (apps/core/security_headers.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
# Browser features the site never uses, turned off for it and anything it might embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer", "camera", "display-capture", "geolocation", "gyroscope",
        "magnetometer", "microphone", "payment", "usb",
    )
}  # fmt: skip
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
# Only where every subdomain is served over https too (and, for preload, the domain is submitted).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# The WSGI server behind the proxy takes the client's address from X-Forwarded-For (config/wsgi.py);
# only where nothing but the proxy reaches it.
TRUST_X_FORWARDED_FOR = env.bool("DJANGO_TRUST_X_FORWARDED_FOR", default=False)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_MAX_REQUEST_BYTES", default=1_048_576)
# While the database cannot be reached, requests answer 503 with this Retry-After (apps/core/errors.py).
SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

REDIS_URL = env.str("REDIS_URL", default="")
# The channel layer (websocket groups across server processes) and the live event store
# (what each stream was sent, for clients that reconnect) live in Redis when there is one;
# in memory otherwise, which is only right for the embedded default's single server process.
CHANNEL_LAYER_REDIS_URL = env.str("CHANNEL_LAYER_REDIS_URL", default=REDIS_URL)


def channel_layer_host(url: str) -> dict[str, object]:
    """channels-redis waits for messages with a 5 s blocking pop; redis-py's default read
    timeout is also 5 s, so on a busy machine an idle socket's wait times out and Daphne
    closes it with 1011 (and the message in flight is lost). Read for longer than the pop.

    A pub/sub subscription only reads: a connection that died without a reset (a failover,
    a proxy's idle timeout) would never fail, and the process would hear nothing. redis-py
    pings a connection idle for longer than the health-check interval, so a dead one fails,
    reconnects and subscribes again; the roll call replays what was missed."""
    return {"address": url, "socket_timeout": 30, "health_check_interval": 15, "socket_keepalive": True}


CHANNEL_LAYER_PREFIX = env.str("CHANNEL_LAYER_PREFIX", default="asgi")
# "pubsub": a server process subscribes once to each group its sockets are in, and one
# PUBLISH reaches all of them (the fan-out is then in the process, docs/adr/live-fan-out-by-pubsub.md);
# "lists": channels-redis's per-socket lists, one push per socket and message.
CHANNEL_LAYER_KIND = env.str("CHANNEL_LAYER_KIND", default="pubsub")


def channel_layers_on_redis(url: str, *, prefix: str, kind: str = "pubsub") -> dict[str, object]:
    """The CHANNEL_LAYERS setting for a channel layer on the Redis at `url`."""
    backends = {
        "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "lists": "channels_redis.core.RedisChannelLayer",
    }
    if kind not in backends:
        raise ImproperlyConfigured(f"CHANNEL_LAYER_KIND is {kind!r}; it is one of {', '.join(backends)}.")
    return {
        "default": {
            "BACKEND": backends[kind],
            "CONFIG": {"hosts": [channel_layer_host(url)], "prefix": prefix},
        }
    }


if CHANNEL_LAYER_REDIS_URL:
    CHANNEL_LAYERS = channel_layers_on_redis(
        CHANNEL_LAYER_REDIS_URL, prefix=CHANNEL_LAYER_PREFIX, kind=CHANNEL_LAYER_KIND
    )
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
LIVE_REDIS_URL = env.str("LIVE_REDIS_URL", default=CHANNEL_LAYER_REDIS_URL)
LIVE_KEY_PREFIX = env.str("LIVE_KEY_PREFIX", default="live")
# Per stream: how many events, and for how long, a reconnecting client can catch up on;
# a longer gap gets a "refresh" instead.
LIVE_STREAM_MAX_EVENTS = env.int("LIVE_STREAM_MAX_EVENTS", default=500)
LIVE_STREAM_TTL_SECONDS = env.int("LIVE_STREAM_TTL_SECONDS", default=3600)
LIVE_REPLAY_MAX_EVENTS = env.int("LIVE_REPLAY_MAX_EVENTS", default=200)
# A websocket re-checks that its person is still active (and renews their presence) this often.
LIVE_RECHECK_SECONDS = env.float("LIVE_RECHECK_SECONDS", default=30.0)
# Frames a client may send: a burst of this many, refilled at this rate per second.
LIVE_CLIENT_BURST = env.int("LIVE_CLIENT_BURST", default=20)
LIVE_CLIENT_FRAMES_PER_SECOND = env.float("LIVE_CLIENT_FRAMES_PER_SECOND", default=5.0)

# Mail to people who are not online (reminders, escalations, "assigned to you"): SMTP when
# EMAIL_HOST is set, otherwise files in var/mail (the embedded default). EMAIL_BACKEND overrides.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.smtp.EmailBackend"
        if EMAIL_HOST
        else "django.core.mail.backends.filebased.EmailBackend"
    ),
)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Approval inbox <inbox@localhost>")
# Links in mail point here (the site's public address).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# Business rules that are configuration rather than code.
WORKFLOW_DECISION_DATA_MAX_BYTES = env.int("WORKFLOW_DECISION_DATA_MAX_BYTES", default=64_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}

AUTOMATION_ADAPTERS = {
    "credit_bureau": env.str(
        "AUTOMATION_CREDIT_BUREAU", default="apps.automation.adapters.SimulatedCreditBureau"
    ),
    "employment_verifier": env.str(
        "AUTOMATION_EMPLOYMENT_VERIFIER", default="apps.automation.adapters.SimulatedEmploymentVerifier"
    ),
}

# --- REST API (apps/api) -----------------------------------------------------------------------
# OIDC bearer tokens are accepted only when an identity provider is configured.
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_DRF_AUTH_BACKEND = env.str("OIDC_DRF_AUTH_BACKEND", default="apps.accounts.oidc.StaffOIDCBackend")
API_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and OIDC_OP_USER_ENDPOINT)
# Staff sign in to the browser through the same provider once its authorization and token
# endpoints are known too (apps/accounts/oidc.py). OIDC_ROLE_MAP maps the provider's group names
# (in the OIDC_ROLES_CLAIM claim) to roles: "approvers-finance=Finance,it-staff=IT".
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile")
# Seconds per call to the provider: without a limit a hung provider holds the request forever.
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
OIDC_ROLES_CLAIM = env.str("OIDC_ROLES_CLAIM", default="groups")
OIDC_ROLE_MAP = env.dict("OIDC_ROLE_MAP", default={})
# Sign-out ends the provider's session too (OpenID Connect RP-Initiated Logout) when the provider
# has an end_session_endpoint: named here, or read from its discovery document
# (".../.well-known/openid-configuration"). Without one, sign-out is local only.
OIDC_OP_LOGOUT_ENDPOINT = env.str("OIDC_OP_LOGOUT_ENDPOINT", default="")
OIDC_OP_DISCOVERY_ENDPOINT = env.str("OIDC_OP_DISCOVERY_ENDPOINT", default="")
OIDC_DISCOVERY_CACHE_SECONDS = env.int("OIDC_DISCOVERY_CACHE_SECONDS", default=3600)
# The id token is kept in the session as the sign-out's id_token_hint.
OIDC_STORE_ID_TOKEN = True
# A bearer token's userinfo answer is reused this long (never past the token's own expiry), so
# an API client does not cost a call to the provider per request; 0 asks the provider every time.
OIDC_USERINFO_CACHE_SECONDS = env.int("OIDC_USERINFO_CACHE_SECONDS", default=60)
OIDC_SIGN_IN_ENABLED = bool(API_OIDC_ENABLED and OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_TOKEN_ENDPOINT)
if OIDC_SIGN_IN_ENABLED:
    if "mozilla_django_oidc" not in INSTALLED_APPS:
        INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("apps.accounts.oidc.StaffOIDCBackend")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The first class names the WWW-Authenticate challenge of a 401.
        "apps.api.authentication.ApiKeyAuthentication",
        *(["apps.api.authentication.BearerTokenAuthentication"] if API_OIDC_ENABLED else []),
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Every limit of a request (per client, per user, per address) in one Redis round trip.
    "DEFAULT_THROTTLE_CLASSES": ["apps.api.throttles.ApiRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["apps.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.problems.problem_exception_handler",
    # ?format= belongs to the audit export (csv|jsonl), not to renderer selection.
    "URL_FORMAT_OVERRIDE": None,
}
# Requests per period ("600/minute"): per API key or OIDC client, per user over all their
# clients, per address.
API_THROTTLE_RATES = {
    "client": env.str("API_THROTTLE_CLIENT", default="600/minute"),
    "user": env.str("API_THROTTLE_USER", default="1200/minute"),
    "anonymous": env.str("API_THROTTLE_ANONYMOUS", default="60/minute"),
}
# Failed password sign-ins: after this many per account and address (or per address) within
# the window, further attempts are refused until the window ends (apps/accounts/sign_in_limits.py).
SIGN_IN_MAX_FAILURES_PER_ACCOUNT = env.int("SIGN_IN_MAX_FAILURES_PER_ACCOUNT", default=5)
SIGN_IN_MAX_FAILURES_PER_ADDRESS = env.int("SIGN_IN_MAX_FAILURES_PER_ADDRESS", default=50)
SIGN_IN_FAILURE_WINDOW_SECONDS = env.int("SIGN_IN_FAILURE_WINDOW_SECONDS", default=900)
# Rate limits (API throttles, sign-in attempts, websocket frames) are sliding windows in this
# Redis, shared by every web process (apps/core/rate_limits.py); empty: each process its own.
RATE_LIMIT_REDIS_URL = env.str("RATE_LIMIT_REDIS_URL", default=REDIS_URL)
# Frames one websocket client may send (apps.core.rate_limits.websocket_frame_admit).
WEBSOCKET_FRAME_RATE = env.str("WEBSOCKET_FRAME_RATE", default="60/minute")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)
API_MAX_PAGE_SIZE = 200
API_BULK_MAX_ITEMS = env.int("API_BULK_MAX_ITEMS", default=500)
# The pages' bulk forms act on at most this many tasks per request.
INBOX_BULK_MAX_ITEMS = env.int("INBOX_BULK_MAX_ITEMS", default=100)

# Attachments on process instances: kept through Django's storage API (MEDIA_ROOT by default),
# served only through a permission-checked view, never by URL from MEDIA_URL.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
ATTACHMENT_CONTENT_TYPES = env.list(
    "ATTACHMENT_CONTENT_TYPES",
    default=["application/pdf", "image/png", "image/jpeg", "text/plain", "text/csv"],
)
# A dotted path to a callable(file) -> str | None that returns why a file is refused (a virus
# scanner's verdict), or None to accept it. The default accepts every file.
ATTACHMENT_SCANNER = env.str("ATTACHMENT_SCANNER", default="apps.humantasks.services.comments.scan_nothing")
API_IDEMPOTENCY_TTL_HOURS = env.int("API_IDEMPOTENCY_TTL_HOURS", default=24)
SPECTACULAR_SETTINGS = {
    "TITLE": "Approval inbox API",
    "DESCRIPTION": (
        "Start and drive business processes, work the task inbox and read the audit log. "
        "Authenticate with `Authorization: Api-Key <key>` (or an OIDC bearer token where configured). "
        "Every POST accepts an `Idempotency-Key` header; reads return an `ETag` (the object's version) and "
        "writes accept `If-Match`. Errors are RFC 9457 problem+json."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files are served from our own static files, not fetched from elsewhere.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Tasks and webhook deliveries both have a "state": the tasks' keeps the name StateEnum.
    "ENUM_NAME_OVERRIDES": {"StateEnum": ["open", "claimed", "completed", "cancelled"]},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.api.schema.add_problem_responses",
    ],
}

# --- Celery workers and beat, the outbox, automated steps and SLA timers (README: production) ---
# The broker is Redis (REDIS_URL) unless CELERY_BROKER_URL names another, e.g.
# amqp://user:password@host:5672/vhost for RabbitMQ. Without either (the embedded default)
# a folder in var/ is the queue between the web process and the worker it starts.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
    for _folder in (_BROKER_DIR / "queue", _BROKER_DIR / "processed", _BROKER_DIR / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
        # Otherwise kombu keeps its broadcast exchanges in ./control of whatever the cwd is.
        "control_folder": str(_BROKER_DIR / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis only: an unacknowledged job (its worker was killed) is handed out again after
        # this, by a sweep every CELERY_UNACKED_RESTORE_SECONDS. Keep it above the longest job.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_SECONDS", default=10),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 3,
        # A Redis that vanishes without closing the connection must not hold a publish for ever.
        "socket_timeout": 10,
        # Publishing fails at once when the broker is down, instead of holding the request that
        # committed: the outbox keeps the row and the relay tries again. (Workers reconnect on
        # their own schedule, broker_connection_max_retries.)
        "max_retries": 0,
    }
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's, except that a lost connection is a connection error, not a worker-ending
    # AttributeError (config/redis_broker.py).
    CELERY_BROKER_TRANSPORT = "config.redis_broker:RedisTransport"
# Deployments that share one broker give each its own queue.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# True runs jobs in the process that enqueues them (the test settings do this).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A job is acknowledged when it finishes, not when it starts: a killed worker's job runs again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule")
)
OUTBOX_RELAY_SWEEP_SECONDS = env.float("OUTBOX_RELAY_SWEEP_SECONDS", default=2.0)
# What a commit that wrote outbox rows does about them: "thread" wakes this process's relay
# thread and returns at once (the request does not wait for the publishing); "inline" runs
# the relay in the committing thread, after the commit; "notify" (PostgreSQL) does nothing:
# the database wakes the relay process (`manage.py outbox_relay`) when the rows commit, and
# no web or worker process spends its own time relaying (docs/adr/outbox-relay-process.md).
# Beat's sweep sends whatever any of them missed. The embedded SQLite default stays inline:
# one writer at a time suits it better.
OUTBOX_RELAY_NUDGE = env.str(
    "OUTBOX_RELAY_NUDGE",
    default="inline" if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else "thread",
)
if OUTBOX_RELAY_NUDGE not in ("thread", "inline", "notify"):
    raise ImproperlyConfigured("OUTBOX_RELAY_NUDGE must be 'thread', 'inline' or 'notify'")
# Whether this process relays the outbox (nudges and beat's sweep). The embedded default's
# worker does not: with the in-memory channel layer only the web process's sockets hear an
# event, so that process relays, every OUTBOX_RELAY_POLL_SECONDS (apps/notifications/web_relay.py).
OUTBOX_RELAY_HERE = env.bool("OUTBOX_RELAY_HERE", default=True)
OUTBOX_RELAY_POLL_SECONDS = env.float("OUTBOX_RELAY_POLL_SECONDS", default=0.5)
# The relay process, woken by a commit within 0.1 s of its last run (commits coming faster than
# runs), gathers the commits of this many seconds before running: one run then serves several.
# An idle relay runs at once; live events wait at most this much longer under load.
OUTBOX_RELAY_GATHER_SECONDS = env.float("OUTBOX_RELAY_GATHER_SECONDS", default=0.01)
OUTBOX_RETENTION_HOURS = env.int("OUTBOX_RETENTION_HOURS", default=24)
# /metrics (Prometheus): scrapers send "Authorization: Bearer <METRICS_TOKEN>"; with no token
# set, only loopback addresses are answered.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
SLA_TIMER_SECONDS = env.float("SLA_TIMER_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {"task": "notifications.outbox_relay", "schedule": OUTBOX_RELAY_SWEEP_SECONDS},
    "outbox-prune": {"task": "notifications.outbox_prune", "schedule": 3600.0},
    "automation-recover-stalled": {"task": "automation.recover_stalled", "schedule": 300.0},
    "sla-escalate-overdue": {"task": "humantasks.escalate_overdue", "schedule": SLA_TIMER_SECONDS},
    "sla-remind-assignees": {"task": "humantasks.remind_assignees", "schedule": SLA_TIMER_SECONDS},
    "sla-release-stale-claims": {"task": "humantasks.release_stale_claims", "schedule": SLA_TIMER_SECONDS},
    "api-purge-idempotency-records": {"task": "api.purge_idempotency_records", "schedule": 3600.0},
}

# Automated steps: retries with exponential backoff and jitter, then a dead letter.
AUTOMATION_MAX_ATTEMPTS = env.int("AUTOMATION_MAX_ATTEMPTS", default=5)
AUTOMATION_BACKOFF_SECONDS = env.float("AUTOMATION_BACKOFF_SECONDS", default=2.0)
AUTOMATION_BACKOFF_MAX_SECONDS = env.float("AUTOMATION_BACKOFF_MAX_SECONDS", default=300.0)
# A run waiting or running this long lost its job (e.g. with a broker's data); it is enqueued again.
AUTOMATION_STALLED_AFTER_SECONDS = env.float("AUTOMATION_STALLED_AFTER_SECONDS", default=900.0)
# External systems over HTTP (used by apps.automation.adapters.HttpCreditBureau and friends).
AUTOMATION_HTTP_TIMEOUT_SECONDS = env.float("AUTOMATION_HTTP_TIMEOUT_SECONDS", default=10.0)
AUTOMATION_CREDIT_BUREAU_URL = env.str("AUTOMATION_CREDIT_BUREAU_URL", default="")
AUTOMATION_EMPLOYMENT_VERIFIER_URL = env.str("AUTOMATION_EMPLOYMENT_VERIFIER_URL", default="")
# Circuit breaker per external system: opens after this many failures in a row, tries again after the reset.
AUTOMATION_BREAKER_FAILURES = env.int("AUTOMATION_BREAKER_FAILURES", default=5)
AUTOMATION_BREAKER_RESET_SECONDS = env.float("AUTOMATION_BREAKER_RESET_SECONDS", default=60.0)
# Breaker state lives in Redis so every worker sees it; without Redis, each process keeps its own.
AUTOMATION_BREAKER_REDIS_URL = env.str("AUTOMATION_BREAKER_REDIS_URL", default=REDIS_URL)
# The simulated systems of the embedded default: how slow and how unreliable they are.
AUTOMATION_SIMULATED_DELAY_SECONDS = env.float("AUTOMATION_SIMULATED_DELAY_SECONDS", default=0.0)
AUTOMATION_SIMULATED_TRANSIENT_FAILURE_RATE = env.float(
    "AUTOMATION_SIMULATED_TRANSIENT_FAILURE_RATE", default=0.0
)
AUTOMATION_SIMULATED_PERMANENT_FAILURE_RATE = env.float(
    "AUTOMATION_SIMULATED_PERMANENT_FAILURE_RATE", default=0.0
)

# SLA timers: the defaults of queues that set none of their own (apps.humantasks.models.Queue).
SLA_REMIND_BEFORE_HOURS = env.float("SLA_REMIND_BEFORE_HOURS", default=4.0)
SLA_STALE_CLAIM_HOURS = env.float("SLA_STALE_CLAIM_HOURS", default=8.0)
SLA_ESCALATION_PRIORITY_BOOST = env.int("SLA_ESCALATION_PRIORITY_BOOST", default=20)

# --- Webhooks (apps/webhooks, README: webhooks) ---------------------------------------------------
# Without DATABASE_URL this is the embedded default on one machine: loopback receivers and plain
# http are allowed there (and in the tests), never in production unless these say so.
_EMBEDDED = not env.str("DATABASE_URL", default="")
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=_EMBEDDED)
WEBHOOKS_ALLOW_HTTP = env.bool("WEBHOOKS_ALLOW_HTTP", default=_EMBEDDED)
# Keys that encrypt the endpoints' secrets at rest: the first encrypts, all decrypt (rotation).
WEBHOOKS_SECRET_KEYS = env.list("WEBHOOKS_SECRET_KEYS", default=[SECRET_KEY])
WEBHOOKS_SECRET_OVERLAP_HOURS = env.float("WEBHOOKS_SECRET_OVERLAP_HOURS", default=24.0)
WEBHOOKS_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOKS_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
WEBHOOKS_RESPONSE_MAX_BYTES = env.int("WEBHOOKS_RESPONSE_MAX_BYTES", default=65_536)
WEBHOOKS_EXCERPT_CHARS = env.int("WEBHOOKS_EXCERPT_CHARS", default=1000)
# Seconds to wait after each failed attempt (+/-20% jitter): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
# 10 h, 20 h, 24 h: nine retries over about three days, then the delivery is given up.
WEBHOOKS_RETRY_SCHEDULE_SECONDS = [
    float(seconds)
    for seconds in env.list(
        "WEBHOOKS_RETRY_SCHEDULE_SECONDS",
        default=["5", "300", "1800", "7200", "18000", "36000", "36000", "72000", "86400"],
    )
]
WEBHOOKS_RETRY_AFTER_MAX_SECONDS = env.float("WEBHOOKS_RETRY_AFTER_MAX_SECONDS", default=86400.0)
# Retries due within this are enqueued with a countdown; later ones are left to beat's sweep.
WEBHOOKS_COUNTDOWN_MAX_SECONDS = env.float("WEBHOOKS_COUNTDOWN_MAX_SECONDS", default=60.0)
# An endpoint whose every attempt failed for this long is disabled and its owner told.
WEBHOOKS_DISABLE_AFTER_DAYS = env.float("WEBHOOKS_DISABLE_AFTER_DAYS", default=5.0)
WEBHOOKS_LOG_RETENTION_DAYS = env.float("WEBHOOKS_LOG_RETENTION_DAYS", default=30.0)
WEBHOOKS_REDELIVER_MAX = env.int("WEBHOOKS_REDELIVER_MAX", default=1000)
WEBHOOKS_SWEEP_SECONDS = env.float("WEBHOOKS_SWEEP_SECONDS", default=5.0)
# A due delivery whose job should have run this long ago is enqueued again (the job was lost).
WEBHOOKS_REQUEUE_AFTER_SECONDS = env.float("WEBHOOKS_REQUEUE_AFTER_SECONDS", default=30.0)
# An attempt holds its delivery for the timeout plus this; a worker killed mid-attempt lets go then.
WEBHOOKS_LEASE_MARGIN_SECONDS = env.float("WEBHOOKS_LEASE_MARGIN_SECONDS", default=30.0)
# Events dispatched this long ago that never reached the fan-out (their job was lost) are fanned
# out by beat, looking back as far as the window.
WEBHOOKS_CATCH_UP_AFTER_SECONDS = env.float("WEBHOOKS_CATCH_UP_AFTER_SECONDS", default=60.0)
WEBHOOKS_CATCH_UP_WINDOW_SECONDS = env.float("WEBHOOKS_CATCH_UP_WINDOW_SECONDS", default=6 * 3600.0)
WEBHOOKS_CATCH_UP_SECONDS = env.float("WEBHOOKS_CATCH_UP_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE.update(
    {
        "webhooks-sweep": {"task": "webhooks.sweep", "schedule": WEBHOOKS_SWEEP_SECONDS},
        "webhooks-catch-up": {"task": "webhooks.catch_up", "schedule": WEBHOOKS_CATCH_UP_SECONDS},
        "webhooks-purge-log": {"task": "webhooks.purge_log", "schedule": 3600.0},
    }
)
