"""Settings for every environment, driven by environment variables (see README).

Without any variable set this is the embedded default: SQLite in var/, an in-memory
channel layer, and Celery jobs passed through a folder in var/ to the worker and beat that
`manage.py start` runs beside the web server. With DATABASE_URL and REDIS_URL it is the
production shape.
"""

from __future__ import annotations

from pathlib import Path

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
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.workflows",
    "apps.humantasks",
    "apps.automation",
    "apps.notifications",
    "apps.inbox",
    "apps.ops",
    "apps.oversight",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "apps.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
# Where static files have been collected (the production image), the ASGI processes serve
# them themselves (WhiteNoise): no separate file server is needed in front of them.
if Path(STATIC_ROOT).is_dir():
    _after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
    MIDDLEWARE.insert(_after_security, "whitenoise.middleware.WhiteNoiseMiddleware")

# Cookies and transport are secure unless DJANGO_DEBUG says this is a developer's machine.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_MAX_REQUEST_BYTES", default=1_048_576)

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

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
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.api.throttles.ClientRateThrottle",
        "apps.api.throttles.UserRateThrottle",
        "apps.api.throttles.AnonymousRateThrottle",
    ],
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
# Throttle and sign-in counts must be shared by every web process: Redis when there is one.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "sign-in": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "sign-in",
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sign-in"}
    ),
    "api-throttle": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "throttle",
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-throttle"}
    ),
}
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)
API_MAX_PAGE_SIZE = 200
API_BULK_MAX_ITEMS = env.int("API_BULK_MAX_ITEMS", default=500)
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
OUTBOX_RETENTION_HOURS = env.int("OUTBOX_RETENTION_HOURS", default=24)
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
