"""Database faults under load, PostgreSQL restart included (a scenario, not a CI test).

    .venv/bin/python bench/faults.py
    .venv/bin/python bench/faults.py --seconds 40 --kills-at 5,10 --restart-at 18

Creates a scratch database (`portal_faults_<pid>`), migrates it and loads data/demo, starts
one gunicorn instance (`-w 2`, production settings: tests/reliability/settings.py, i.e.
portal.settings from the environment) and runs visitors that read pages and send feedback.
Meanwhile it kills every connection of the app to its database (`pg_terminate_backend`) at
`--kills-at`, and restarts PostgreSQL at `--restart-at` with
`pg_ctlcluster --skip-systemctl-redirect 15 main restart`.

The restart drops every client of that PostgreSQL server, not only this script's: before
restarting, the script waits (up to --quiet-wait seconds) until no other session has been
active for 30 seconds, and skips the restart if one still is (say --force to restart anyway).

Prints requests sent, feedback acknowledged (302 to the thank-you page) and stored, errors by
kind, and how long the app took to answer successfully again after each fault. The
regression test for the connection kills is tests/reliability/test_faults.py.
"""

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.reliability.servers import (  # noqa: E402
    AppServer,
    Load,
    collectstatic,
    production_env,
    random_secret,
)

OK = (200, 302)


def admin_connection(server_url):
    return psycopg.connect(f"{server_url}/postgres", autocommit=True, connect_timeout=5)


def terminate(server_url, db_name) -> int:
    with admin_connection(server_url) as conn:
        return conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [db_name],
        ).fetchone()[0]


def busy_sessions(server_url, db_name) -> list[str]:
    """Other clients' sessions that are working or were in the last 30 seconds (a test run,
    a benchmark); long-idle pooled connections do not count (Django reconnects them)."""
    with admin_connection(server_url) as conn:
        rows = conn.execute(
            "SELECT datname, application_name, state, left(query, 60) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND datname IS DISTINCT FROM %s "
            "AND (state <> 'idle' OR state_change > now() - interval '30 seconds')",
            [db_name],
        ).fetchall()
    return [" | ".join(str(c) for c in row) for row in rows]


def wait_quiet(args, db_name) -> list[str]:
    """Wait up to --quiet-wait seconds for the other sessions to rest; those still busy."""
    deadline = time.monotonic() + args.quiet_wait
    busy = busy_sessions(args.server_url, db_name)
    while busy and not args.force and time.monotonic() < deadline:
        time.sleep(2)
        busy = busy_sessions(args.server_url, db_name)
    return [] if args.force else busy


def watch_postgres(server_url, load, restart):
    """Record in `restart` when PostgreSQL went down ("down") and accepted again ("ready")."""
    while "down" not in restart and load.now() - restart["begin"] < 30:
        if not pg_ready(server_url):
            restart["down"] = load.now()
        time.sleep(0.02)
    while not pg_ready(server_url):
        time.sleep(0.02)
    restart["ready"] = load.now()


def pg_ready(server_url) -> bool:
    try:
        with psycopg.connect(f"{server_url}/postgres", connect_timeout=1) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def manage(env, *args):
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--cluster", default="15 main", help="pg_ctlcluster VERSION NAME")
    parser.add_argument("--redis-url", default="", help="shared cache (default: none)")
    parser.add_argument("--visitors", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--kills-at", default="4,8")
    parser.add_argument("--restart-at", type=float, default=14)
    parser.add_argument("--quiet-wait", type=float, default=120)
    parser.add_argument("--force", action="store_true", help="restart even if others are busy")
    parser.add_argument("--keep-log", action="store_true", help="keep the app server's log")
    args = parser.parse_args()
    kills_at = [float(x) for x in args.kills_at.split(",") if x]

    db_name = f"portal_faults_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="portal-faults-"))
    with admin_connection(args.server_url) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    server = None
    try:
        env = production_env(
            database_url=f"{args.server_url}/{db_name}",
            secret_key=random_secret(),
            RELIABILITY_STATIC_ROOT=str(workdir / "static"),
            RELIABILITY_FEEDBACK_RATE_LIMITS="{}",
            **({"REDIS_URL": args.redis_url} if args.redis_url else {}),
        )
        print(f"Preparing {db_name}: migrate, import data/demo, collectstatic ...", flush=True)
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "import_mitigations", "data/demo", "--no-progress")
        collectstatic(workdir / "static")
        server = AppServer(env, workers=2, log_dir=workdir, name="faults").start().wait_ready()
        with psycopg.connect(f"{args.server_url}/{db_name}") as conn:
            code, slug = conn.execute(
                "SELECT code, slug FROM mitigations_mitigation WHERE status <> 'draft' "
                "ORDER BY code LIMIT 1"
            ).fetchone()
        pages = [f"/mitigations/{slug}/", "/mitigations/", "/mitigations/?q=model", "/"]
        if wait_quiet(args, db_name):
            print("Other sessions stay busy; starting anyway (the restart waits again).")
        load = Load(server.url, pages, f"/feedback/on/{code}/").start(args.visitors)
        print(
            f"Load: {args.visitors} visitors for {args.seconds:.0f} s on {server.url}; "
            f"kills at {kills_at} s, restart at {args.restart_at} s",
            flush=True,
        )

        events = []  # (kind, seconds since start, detail)
        schedule = sorted([(t, "kill") for t in kills_at] + [(args.restart_at, "restart")])
        schedule = [(t, kind) for t, kind in schedule if t < args.seconds]
        restart = {}
        for at, kind in schedule:
            time.sleep(max(0.0, at - load.now()))
            if kind == "kill":
                events.append(("kill", load.now(), f"{terminate(args.server_url, db_name)} killed"))
                continue
            busy = wait_quiet(args, db_name)
            if busy:
                print("Restart skipped, other sessions are busy:\n  " + "\n  ".join(busy))
                continue
            version, name = args.cluster.split()
            # Watch PostgreSQL while pg_ctlcluster runs: when it stops accepting connections
            # and when it accepts them again (pg_ctlcluster itself returns later).
            watcher = threading.Thread(
                target=watch_postgres, args=(args.server_url, load, restart), daemon=True
            )
            restart["begin"] = load.now()
            watcher.start()
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
                check=True,
            )
            restart["command_done"] = load.now()
            watcher.join(timeout=60)
            events.append(("restart", restart["begin"], "pg_ctlcluster restart"))
        time.sleep(max(0.0, args.seconds - load.now()))
        load.finish()

        with psycopg.connect(f"{args.server_url}/{db_name}") as conn:
            rows = dict(
                conn.execute(
                    "SELECT comment, token FROM feedback_feedback WHERE comment = ANY(%s)",
                    [list(load.acknowledged)],
                ).fetchall()
            )
            total_rows = conn.execute("SELECT count(*) FROM feedback_feedback").fetchone()[0]
        report(load, events, restart, rows, total_rows, server.log())
    finally:
        if server is not None:
            server.stop()
        with contextlib.suppress(psycopg.Error), admin_connection(args.server_url) as conn:
            conn.execute("SET statement_timeout = '60s'")
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [db_name],
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        if args.keep_log and server is not None:
            print(f"App server log: {server.log_path}")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)


def report(load, events, restart, stored_rows, total_rows, log):
    by_kind = Counter((what, outcome) for _, what, outcome in load.results)
    sent = Counter(what for _, what, _ in load.results)
    errors = {k: n for k, n in sorted(by_kind.items(), key=str) if k[1] not in OK}
    acknowledged = len(load.acknowledged)
    stored = sum(1 for c, t in load.acknowledged.items() if stored_rows.get(c) == t)
    answers_500 = sum(n for (_, o), n in by_kind.items() if o == 500)
    answers_503 = sum(n for (_, o), n in by_kind.items() if o == 503)
    logged = Counter(re.findall(r"^(\w+(?:\.\w+)*(?:Error|Exception)\b[^\n]*)", log, re.M))
    lines = [
        "",
        f"requests sent        {len(load.results)}  {dict(sent)}",
        f"acknowledged (302)   {acknowledged} of {sent['post']} feedback POSTs",
        f"stored               {stored} of the acknowledged (lost: {acknowledged - stored})",
        f"feedback rows        {total_rows} (stored, not acknowledged: {total_rows - stored})",
        "errors by kind       "
        + (", ".join(f"{w} {o}: {n}" for (w, o), n in errors.items()) or "none"),
        f"HTTP 500 answers     {answers_500}",
        f"HTTP 503 answers     {answers_503} (without page or Retry-After: {len(load.bad_503s)})",
        f"server-side errors   {sum(logged.values())} logged",
    ]
    lines += [f"    {n} x {line[:110]}" for line, n in logged.most_common(8)]
    for kind, at, detail in events:
        if kind == "kill":
            waited = load.first_success_after(at)
            shown = "none" if waited is None else f"{waited:.2f} s"
            lines.append(f"kill at {at:5.1f} s      {detail}; next success after {shown}")
    if restart:
        begin, ready = restart["begin"], restart["ready"]
        down = restart.get("down", begin)
        lines.append(
            f"restart at {begin:.1f} s     PostgreSQL refused connections from "
            f"+{down - begin:.2f} s to +{ready - begin:.2f} s (down {ready - down:.2f} s); "
            f"pg_ctlcluster returned at +{restart['command_done'] - begin:.2f} s"
        )
        last_failure = max(
            (t for t, _, o in load.results if t >= begin and o not in OK), default=None
        )
        for what in ("page", "form", "post"):
            waited = load.first_success_after(ready, what)
            if waited is None:
                lines.append(f"  no {what} success after PostgreSQL was back")
            else:
                lines.append(
                    f"  first {what:4} success {waited:.2f} s after PostgreSQL accepted "
                    f"connections again (+{waited + ready - begin:.2f} s after the restart began)"
                )
        if last_failure is not None:
            lines.append(
                f"  last failed answer at +{last_failure - begin:.2f} s: recovered "
                f"{max(0.0, last_failure - ready):.2f} s after PostgreSQL was back"
            )
        lines.append("  answers per 0.5 s around the restart (finished at, outcome: count):")
        for step in range(-2, int((ready - begin) * 2) + 4):
            start = begin + step / 2
            bucket = Counter(o for t, _, o in load.results if start <= t < start + 0.5)
            shown = ", ".join(f"{o}: {n}" for o, n in sorted(bucket.items(), key=str)) or "-"
            lines.append(f"    {start - begin:+5.1f} s  {shown}")
        slowest = max((d for at, d in load.durations if at >= begin), default=0.0)
        lines.append(f"  slowest answer after the restart began: {slowest:.2f} s")
        failing = [t for t, _, o in sorted(load.results) if t >= begin - 0.5 and o not in OK]
        if failing:
            lines.append(
                f"  failed answers from +{failing[0] - begin:.2f} s to +{failing[-1] - begin:.2f} s"
                f" (outage seen by visitors: {failing[-1] - failing[0]:.2f} s)"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
