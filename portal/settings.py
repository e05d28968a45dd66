"""Settings for the mitigation portal: one file, configured from the environment.

Every variable is documented in `.env.example`. Development defaults are safe to run on a
laptop; production (DEBUG=False) refuses to start without a real SECRET_KEY.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# The test runner imports settings without a production secret; it never serves traffic.
TESTING = "pytest" in sys.modules

_DEV_SECRET = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=False) needs a real secret key: "
            "set SECRET_KEY to a long random string (see .env.example)."
        )
    SECRET_KEY = _DEV_SECRET
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_SECRET or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: use at least 50 random characters."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_NAME = env.str("SITE_NAME", default="AI Risk Mitigation Portal")
# The About page's "Who runs it": a template (the deployment's own text) [about/operator.html]
ABOUT_OPERATOR_TEMPLATE = env.str("ABOUT_OPERATOR_TEMPLATE", default="about/operator.html")
# Where readers ask for their feedback or contact details to be deleted (About page) []
PRIVACY_CONTACT_EMAIL = env.str("PRIVACY_CONTACT_EMAIL", default="")

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",  # Django's admin, with the second factor required
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.sitemaps",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tasks_db",
    "portal",
    "mitigations",
    "feedback",
    "portal.accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "portal.middleware.RequestLimitsMiddleware",
    "portal.middleware.DataVersionMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.BodyLimitMiddleware",
    "portal.middleware.SecondFactorMiddleware",  # marks sessions that passed the 2nd factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.middleware.SignedInNoStoreMiddleware",
    "portal.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "django.template.context_processors.csp",
                "portal.context_processors.portal",
            ],
        },
    },
]

# --- Database: SQLite file by default, PostgreSQL (psycopg 3) via DATABASE_URL -------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
        "DB_CONNECT_TIMEOUT", default=5
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: Redis when REDIS_URL is set, local memory otherwise ----------------------------
# While Redis is unavailable the cache answers every call as a miss (portal/lib/redis_cache.py):
# pages keep working from the database. Short timeouts, so that an outage never stalls a
# request for long; after a failure Redis is left alone for a second.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.lib.redis_cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="portal"),
            "OPTIONS": {
                "socket_connect_timeout": 0.25,
                "socket_timeout": 0.5,
                "unavailable_retry_seconds": 1.0,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in the database and are cached, so every app process shares them.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Accounts ------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # (username, client) lockout
    "portal.accounts.limits.SignInLimitsBackend",  # per-client and per-account limits
    "portal.accounts.backends.PortalModelBackend",  # ModelBackend, permissions with the user
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:  # fast hashing keeps the test suite quick; never used when serving
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "home"
# Reviewers are signed out after this long without a request (seconds).
IDLE_TIMEOUT = env.int("IDLE_TIMEOUT", default=60 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Number of reverse proxies in front of the app whose X-Forwarded-For we trust (0 = none).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Sign-in limits (portal/accounts/limits.py). A client is an IPv4 address or an IPv6 /64.
# 1. django-axes: AXES_FAILURE_LIMIT failures lock one (username, client) pair.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts refused while locked are not counted (nor those the other limits refuse).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "portal.lib.clientip.client_key_address"
AXES_USERNAME_CALLABLE = "portal.accounts.limits.axes_username"  # cut to its column
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_CALLABLE = "portal.accounts.limits.lockout_response"
# 2. Password spraying: this many failures from one client within the window (any
#    usernames) lock that client out of every account for SIGNIN_ADDRESS_LOCKOUT seconds.
SIGNIN_ADDRESS_LIMIT = env.int("SIGNIN_ADDRESS_LIMIT", default=20)
SIGNIN_ADDRESS_WINDOW = env.int("SIGNIN_ADDRESS_WINDOW", default=15 * 60)
SIGNIN_ADDRESS_LOCKOUT = env.int("SIGNIN_ADDRESS_LOCKOUT", default=15 * 60)
# 3. Distributed guessing: from this many failures for one account (any clients; the count
#    ends after SIGNIN_ACCOUNT_WINDOW quiet seconds) each failure makes the account wait
#    SIGNIN_ACCOUNT_DELAY seconds before the next attempt, doubling, at most the maximum.
#    Owner and editors are mailed once per episode.
SIGNIN_ACCOUNT_LIMIT = env.int("SIGNIN_ACCOUNT_LIMIT", default=10)
SIGNIN_ACCOUNT_WINDOW = env.int("SIGNIN_ACCOUNT_WINDOW", default=24 * 60 * 60)
SIGNIN_ACCOUNT_DELAY = env.int("SIGNIN_ACCOUNT_DELAY", default=60)
SIGNIN_ACCOUNT_MAX_DELAY = env.int("SIGNIN_ACCOUNT_MAX_DELAY", default=15 * 60)
# Password-reset requests per client and per email address typed: (max, window seconds).
# Over the limit the answer is the same, only no mail is sent.
PASSWORD_RESET_LIMITS = {
    "address": (env.int("PASSWORD_RESET_PER_ADDRESS", default=5), 60 * 60),
    "account": (env.int("PASSWORD_RESET_PER_ACCOUNT", default=3), 60 * 60),
}
# The second factor (django-otp; portal/accounts/second_factor.py): TOTP codes from an app
# and recovery codes. Wrong codes are limited by the sign-in limits above (one set of
# limits), so django-otp's own per-device delays are off; codes are accepted one step
# (30 s) early or late, each code once.
OTP_TOTP_ISSUER = SITE_NAME
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
OTP_TOTP_SYNC = False
# Hours an invitation (setup link) works [72]
INVITATION_HOURS = env.int("INVITATION_HOURS", default=72)
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # failed sign-ins, kept after a lockout is cleared

# --- Email: console in development ---------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
_email_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": (
            {k: v for k, v in _email_options.items() if v not in (None, "")}
            if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EDITORS_EMAIL = env.list("EDITORS_EMAIL", default=[])

# --- Background tasks (Django's tasks framework) -------------------------------------------
# "database" queues tasks in the database for `manage.py db_worker`; "immediate" runs them
# in-process right after the transaction commits (development and tests).
TASKS_BACKEND = env.str("TASKS_BACKEND", default="immediate")
TASKS = {
    "default": {
        "BACKEND": {
            "database": "django_tasks_db.DatabaseBackend",
            "immediate": "django.tasks.backends.immediate.ImmediateBackend",
            "dummy": "django.tasks.backends.dummy.DummyBackend",
        }[TASKS_BACKEND]
    }
}

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files: whitenoise serves hashed, compressed files ------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "portal.lib.static_storage.StaticStorage"  # whitenoise's, URLs remembered
        )
    },
}
WHITENOISE_MAX_AGE = 60 * 60 * 24 * 365 if not DEBUG else 0
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- Request limits ------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # form bodies
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Largest request body accepted at all (dataset uploads in the admin); larger gets 413.
MAX_REQUEST_BODY = env.int("MAX_REQUEST_BODY", default=60 * 1024 * 1024)  # the admin import
# Smaller limits by who is asking (portal.middleware.BodyLimitMiddleware). Anonymous: the
# feedback form at its largest (5,000 characters of 4-byte UTF-8, %-encoded) fits in 64 kB.
ANONYMOUS_MAX_REQUEST_BODY = env.int("ANONYMOUS_MAX_REQUEST_BODY", default=64 * 1024)
SIGNED_IN_MAX_REQUEST_BODY = env.int("SIGNED_IN_MAX_REQUEST_BODY", default=2 * 1024 * 1024)
LARGE_BODY_URL_NAMES = ["admin:mitigations_mitigation_import"]
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# --- Security headers ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not (DEBUG or TESTING))
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# /healthz opens a fresh database connection only for these addresses (or networks: the
# load balancer's) or a request with `X-Healthz-Token: HEALTHZ_TOKEN`; others get a cheap 200.
HEALTHZ_DEEP_ADDRESSES = env.list("HEALTHZ_DEEP_ADDRESSES", default=["127.0.0.1", "::1"])
HEALTHZ_TOKEN = env.str("HEALTHZ_TOKEN", default="")
if env.bool("SECURE_PROXY_SSL_HEADER", default=TRUSTED_PROXY_COUNT > 0):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Only for local benchmarks over plain http: SECURE_COOKIES=false (check --deploy warns).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# --- Forms ---------------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Feedback ------------------------------------------------------------------------------
FEEDBACK_MIN_SECONDS = env.int("FEEDBACK_MIN_SECONDS", default=3)
FEEDBACK_MAX_AGE = env.int("FEEDBACK_MAX_AGE", default=2 * 60 * 60)
FEEDBACK_MAX_LINKS = env.int("FEEDBACK_MAX_LINKS", default=3)
# Days an item may wait for a decision and a resolution before the queue calls it overdue.
FEEDBACK_DUE_DAYS = env.int("FEEDBACK_DUE_DAYS", default=7)
FEEDBACK_NOTIFY_MAX_PER_HOUR = env.int("FEEDBACK_NOTIFY_MAX_PER_HOUR", default=60)
# Double opt-in of submitters' addresses: how long a confirmation link works, and how often
# one address may be asked to confirm (a stranger cannot make the portal mail it more).
FEEDBACK_CONFIRM_DAYS = env.int("FEEDBACK_CONFIRM_DAYS", default=30)
FEEDBACK_CONFIRM_RESEND_HOURS = env.int("FEEDBACK_CONFIRM_RESEND_HOURS", default=24)
# scope -> [(max posts, window seconds), ...]. "ip": anonymous visitors by hashed address;
# "user": signed-in accounts (invited, so counted per account, not per address).
FEEDBACK_RATE_LIMITS = {
    "ip": [(5, 60), (30, 24 * 60 * 60)],
    "user": [(20, 60)],
}
# Largest dataset upload on the admin's import page, in bytes [50 MB]
DATASET_UPLOAD_MAX_BYTES = env.int("DATASET_UPLOAD_MAX_BYTES", default=50 * 1024 * 1024)
# Base address used in emails sent by the task worker (no request there), e.g. https://portal.example.org
SITE_URL = env.str("SITE_URL", default="")

# --- API (/api/v1/) ------------------------------------------------------------------------
# Turns a personal token into its owner (or None); the accounts app keeps the tokens.
API_TOKEN_AUTHENTICATOR = "portal.accounts.tokens.user_for_token"  # noqa: S105
# bucket -> (requests, window seconds): per token, per address (requests without a token),
# and failed token attempts per address.
API_RATE_LIMITS = {
    "token": (env.int("API_RATE_LIMIT_TOKEN", default=1200), 60),
    "address": (env.int("API_RATE_LIMIT_ADDRESS", default=300), 60),
    "failed_tokens": (20, 60),
}

# --- Portal --------------------------------------------------------------------------------
# Seconds a page rendered for anonymous readers may be served from the shared cache (0: off).
# Signed-in users always get a rendering of their own (portal/lib/page_cache.py).
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=60)
# Pages one anonymous address may have rendered past the page cache per minute (0: no cap),
# and addresses without that cap (the benchmark's load generator, a monitoring probe).
PAGE_CACHE_MISS_LIMIT = env.int("PAGE_CACHE_MISS_LIMIT", default=120)
PAGE_CACHE_MISS_EXEMPT = env.list("PAGE_CACHE_MISS_EXEMPT", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Secrets in paths (tracking tokens, confirmation and reset links) are never logged.
    "filters": {"redact": {"()": "portal.lib.log_redaction.RedactFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.security.DisallowedHost": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
    },
}
