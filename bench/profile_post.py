"""Profile the valid feedback POST in-process: CPU per post, SQL queries, Redis round trips.

    .venv/bin/python bench/profile_post.py                 # 200 posts timed, 200 profiled
    .venv/bin/python bench/profile_post.py -n 500 --no-profile
    .venv/bin/python bench/profile_post.py --queries --sort tottime

Like bench/profile_page.py: the benchmark database (BENCH_DATABASE_URL, default
portal_bench) and the benchmark settings, through Django's test client (full middleware
stack, no network). Each post is what bench/drive.py sends: an anonymous reader's page
feedback with the form's CSRF token, signed page version and its own stamp (dated
FEEDBACK_MIN_SECONDS + 1 s back), answered by a 302 to /feedback/thanks/TOKEN/. Every post
adds a feedback row (and its history and task rows) to the benchmark database.

The cache is a private `redis-server` on a free port (started and stopped here) when the
binary is installed, else PROFILE_REDIS_URL, else local memory. Redis round trips are
counted at the socket (one per command sent, one per pipeline).
"""

import argparse
import io
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis():
    if os.environ.get("PROFILE_REDIS_URL"):
        return None, os.environ["PROFILE_REDIS_URL"]
    if not shutil.which("redis-server"):
        return None, ""
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="profile-post-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def backend_cpu(connection):
    """A function returning the CPU seconds so far of this connection's PostgreSQL backend
    (read from /proc: the server is local), or -1 when it cannot be read."""
    if connection.vendor != "postgresql":
        return lambda: -1
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def read():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return -1
        return (int(fields[11]) + int(fields[12])) / tick

    return read


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="posts to time and to profile")
    parser.add_argument("--top", type=int, default=40, help="functions to show")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--queries", action="store_true", help="print each SQL query of a post")
    parser.add_argument(
        "--client", action="store_true", help="through the test client (default: the WSGI handler)"
    )
    parser.add_argument("--no-profile", action="store_true", help="timings and queries only")
    args = parser.parse_args()

    redis_proc, redis_url = start_redis()
    try:
        run(args, redis_url)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(5)


def run(args, redis_url):
    from bench.inprocess import print_profile, print_queries, setup_django, sql_of

    extra = {"REDIS_URL": redis_url} if redis_url else {}
    if redis_url:
        extra["CACHE_KEY_PREFIX"] = os.environ.get("CACHE_KEY_PREFIX", "profile-post")
    setup_django(**extra)
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test import Client

    from feedback.antispam import new_stamp
    from mitigations.models import Mitigation

    redis_calls = [0]
    redis_log = []
    try:
        import redis.connection

        original = redis.connection.AbstractConnection.send_packed_command

        def counted(self, *a, **kw):
            redis_calls[0] += 1
            redis_log.append(a[0] if a else b"")
            return original(self, *a, **kw)

        redis.connection.AbstractConnection.send_packed_command = counted
    except (ImportError, AttributeError):
        pass

    # Database round trips: statements (Django's and the health check's) and the commands
    # psycopg sends itself (BEGIN, COMMIT, ROLLBACK).
    db_calls = [0]
    db_log = []
    try:
        import psycopg
        from psycopg._connection_base import BaseConnection

        def counting(original, label):
            def wrapper(self, *a, **kw):
                db_calls[0] += 1
                db_log.append(label or (a[0] if a else ""))
                return original(self, *a, **kw)

            return wrapper

        psycopg.Cursor.execute = counting(psycopg.Cursor.execute, None)
        psycopg.Cursor.executemany = counting(psycopg.Cursor.executemany, None)
        BaseConnection._exec_command = counting(BaseConnection._exec_command, None)
    except (ImportError, AttributeError):
        pass

    client = Client(HTTP_HOST="127.0.0.1", enforce_csrf_checks=True)
    codes = list(
        Mitigation.objects.exclude(status="draft")
        .order_by("code")
        .values_list("code", flat=True)[:20]
    )
    forms = []
    for code in codes:
        html = client.get(f"/feedback/on/{code}/").content.decode()

        def value(name, html=html):
            return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)

        forms.append((code, value("page"), value("csrfmiddlewaretoken")))
    issued = time.time() - settings.FEEDBACK_MIN_SECONDS - 1
    tag = secrets.token_hex(4)
    counter = [0]

    def one():
        i = counter[0]
        counter[0] += 1
        code, page_value, csrf = forms[i % len(forms)]
        body = urlencode(
            {
                "csrfmiddlewaretoken": csrf,
                "section": "definition",
                "kind": "error",
                "proposed_category": "",
                "comment": f"Profile feedback {tag}-{i}: the definition could say who "
                "carries out the audit and how often the results are published.",
                "name": "Profile Reader" if i % 3 == 0 else "",
                "email": "",
                "website": "",
                "stamp": new_stamp(now=issued, nonce=f"prof{tag}{i:07d}x{secrets.token_hex(6)}"),
                "page": page_value,
            }
        )
        if args.client:
            response = client.post(
                f"/feedback/on/{code}/", body, content_type="application/x-www-form-urlencoded"
            )
            status, location = response.status_code, response.get("Location", "")
        else:
            status, location = wsgi_post(f"/feedback/on/{code}/", body.encode())
        if status != 302 or "/feedback/thanks/" not in location:
            raise SystemExit(f"POST {code}: {status} {location}")

    application = get_wsgi_application()
    cookie = f"csrftoken={client.cookies['csrftoken'].value}"

    def wsgi_post(path, body):
        """One request through the WSGI handler, as gunicorn calls it (request signals too)."""
        environ = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_COOKIE": cookie,
            "HTTP_USER_AGENT": "profile_post",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"], started["headers"] = status, headers

        result = application(environ, start_response)
        try:
            for _chunk in result:
                pass
        finally:
            if hasattr(result, "close"):
                result.close()
        location = dict(started["headers"]).get("Location", "")
        return int(started["status"].split()[0]), location

    for _ in range(3):
        one()  # warm-up: connection, caches, imports
    redis_calls[0] = db_calls[0] = 0
    redis_log.clear()
    db_log.clear()
    _, queries, sql_ms = sql_of(one)
    print(
        f"feedback POST: {len(queries)} queries ({sql_ms:.1f} ms in SQL), "
        f"{db_calls[0]} database round trips, {redis_calls[0]} Redis round trips"
        f"{'' if redis_url else ' (no Redis: locmem)'}"
    )
    if args.queries:
        print_queries(queries)
        for sent in db_log:
            print(f"  db: {str(sent)[:100]}")
        for packed in redis_log:
            print(f"  redis: {str(packed)[:300]}")

    # In batches of 25: on a shared machine the CPU time per post inflates with other load,
    # the lowest batch is the steadier figure.
    backend = backend_cpu(connection)
    db_before = backend()
    batches = []
    for _ in range(max(1, args.n // 25)):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(25):
            one()
        batches.append(((time.process_time() - cpu) / 25, (time.perf_counter() - wall) / 25))
    cpus = sorted(c for c, _ in batches)
    walls = sorted(w for _, w in batches)
    print(
        f"{len(batches) * 25} posts: CPU per post (this process) min {cpus[0] * 1000:.2f} ms, "
        f"median {cpus[len(cpus) // 2] * 1000:.2f} ms; "
        f"wall median {walls[len(walls) // 2] * 1000:.2f} ms"
    )
    db_cpu = backend() - db_before
    if db_cpu >= 0:
        print(f"database backend CPU per post: {db_cpu / (len(batches) * 25) * 1000:.2f} ms")
    if args.no_profile:
        return
    print_profile(one, args.n, sort=args.sort, top=args.top)


if __name__ == "__main__":
    main()
