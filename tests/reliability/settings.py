"""Settings for the app servers the reliability tests start (gunicorn subprocesses).

Exactly portal.settings (read from the environment as in production), plus test-only knobs
that the environment cannot set:

- FEEDBACK_RATE_LIMITS from RELIABILITY_FEEDBACK_RATE_LIMITS (JSON, e.g.
  '{"ip": [[3, 60]]}'; '{}' switches the limits off): portal/settings.py does not read
  FEEDBACK_RATE_LIMITS from the environment.
- STATIC_ROOT from RELIABILITY_STATIC_ROOT: a temporary `collectstatic` output, so that the
  app servers serve hashed static files through whitenoise without writing to the shared
  tree's staticfiles/. The files are hashed as in production but not compressed
  (compressing the admin's and Bootstrap's files takes ~15 s; no header depends on it).
- ROOT_URLCONF adds one URL that raises, to see a real 500 response in production mode.

Nothing here imports pytest: the servers run with TESTING = False, like production.
"""

import json
import os

from portal.settings import *  # noqa: F403
from portal.settings import STORAGES

if "RELIABILITY_FEEDBACK_RATE_LIMITS" in os.environ:
    FEEDBACK_RATE_LIMITS = json.loads(os.environ["RELIABILITY_FEEDBACK_RATE_LIMITS"])

if os.environ.get("RELIABILITY_STATIC_ROOT"):
    STATIC_ROOT = os.environ["RELIABILITY_STATIC_ROOT"]
    STORAGES = {
        **STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

ROOT_URLCONF = "tests.reliability.urls"
