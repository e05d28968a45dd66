"""What bench/profile_page.py, profile_post.py and profile_decision.py share: Django set up
in this process as the benchmark's gunicorn runs it (bench settings, the benchmark database,
production mode over plain http), the SQL of one request, timing in batches and a CPU-time
cProfile of a request function."""

import cProfile
import os
import pstats
import secrets
import time


def setup_django(**env):
    """Configure the environment like bench/run does, then django.setup(). `env`: extra
    variables (e.g. REDIS_URL) set before Django reads its settings."""
    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_bench")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
    os.environ["DEBUG"] = "false"
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["SECURE_COOKIES"] = "false"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1"
    os.environ.setdefault("TASKS_BACKEND", "database")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.update(env)
    import django

    django.setup()


def print_profile(one, n, *, sort, top):
    """cProfile `n` calls of `one()` in CPU time (other load does not inflate it)."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(n):
        one()
    profiler.disable()
    pstats.Stats(profiler).strip_dirs().sort_stats(sort).print_stats(top)


def query_recorder():
    """(queries, record): `record` is a connection.execute_wrapper that appends
    (seconds, sql) of every query to the list `queries`."""
    queries = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append((time.perf_counter() - started, sql))

    return queries, record


def sql_of(one):
    """Call `one()` once with its SQL recorded: (its result, [(seconds, sql)], ms in SQL)."""
    from django.db import connection

    queries, record = query_recorder()
    with connection.execute_wrapper(record):
        result = one()
    return result, queries, sum(t for t, _ in queries) * 1000


def print_queries(queries, width=300):
    for seconds, sql in queries:
        print(f"  {seconds * 1000:7.2f} ms  {sql[:width]}")


def timed_batches(one, n):
    """Call `one()` n times in batches of a tenth (on a busy machine the best batch is the
    steadiest figure); (batch size, wall ms per call per batch sorted, CPU ms per call per
    batch) — CPU is this process's."""
    batch = max(1, n // 10)
    walls, cpus = [], []
    for _ in range(max(1, n // batch)):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(batch):
            one()
        walls.append((time.perf_counter() - wall) / batch * 1000)
        cpus.append((time.process_time() - cpu) / batch * 1000)
    return batch, sorted(walls), cpus
