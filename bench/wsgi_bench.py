"""WSGI entry point for the benchmark: portal.wsgi with the benchmark settings.

gunicorn -c portal/gunicorn_conf.py bench.wsgi_bench
"""

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_bench"

from portal.wsgi import application  # noqa: E402

__all__ = ["application"]
