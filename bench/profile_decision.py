"""Profile an editor's decision in-process: CPU and wall time per POST, SQL queries.

    .venv/bin/python bench/profile_decision.py row             # a queue row's button
    .venv/bin/python bench/profile_decision.py next -n 100     # "Save and next pending"
    .venv/bin/python bench/profile_decision.py row --queries --no-profile

The POSTs bench/drive.py sends (bench/admin_decisions.py builds them): each decides a
different pending item of the benchmark database (BENCH_DATABASE_URL, default portal_bench)
as bench-editor, with the CSRF token of a real page and the item's version, and must be
answered by a 302. Like bench/profile_page.py: the benchmark settings, Django's test client
(full middleware stack, CSRF checks on, no network), after three warm-up decisions. Every
decision changes an item of the benchmark database for good (about 2 n + 4 of them: n timed,
n profiled), as the benchmark's own runs do.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["row", "next"])
    parser.add_argument("-n", type=int, default=50, help="decisions to time and to profile")
    parser.add_argument("--top", type=int, default=40, help="functions to show")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--queries", action="store_true", help="print each SQL query of a POST")
    parser.add_argument("--no-profile", action="store_true", help="timings and queries only")
    args = parser.parse_args()

    from bench.inprocess import print_profile, print_queries, setup_django, sql_of, timed_batches

    setup_django()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench import admin_decisions
    from bench.drive import form_value
    from bench.profile_page import sign_in

    editor = get_user_model().objects.get(username="bench-editor")
    client = Client(HTTP_HOST="127.0.0.1", enforce_csrf_checks=True)
    sign_in(client, editor)
    pool = admin_decisions.pending_pool(2 * args.n + 4 if not args.no_profile else args.n + 4)
    if len(pool) < args.n + 4:
        raise SystemExit("too few pending items in the benchmark database")

    def get(path):
        response = client.get(path)
        return response.status_code, response.content.decode()

    admin_decisions.check_real_forms(get, pool)
    _, html = get(admin_decisions.change_path(pool[0][0]))
    csrf = form_value(html, "csrfmiddlewaretoken")
    posts = iter(admin_decisions.bodies(args.kind, pool, csrf))
    sent = []

    def one():
        path, body, pk, decision = next(posts)
        response = client.post(path, body, content_type="application/x-www-form-urlencoded")
        if response.status_code != 302:
            raise SystemExit(f"POST {path}: {response.status_code}")
        sent.append((pk, decision))
        return response

    for _ in range(3):
        one()  # warm-up: connection, caches, imports
    response, queries, sql_ms = sql_of(one)
    print(
        f"{args.kind} decision: 302 to {response['Location']}, {len(queries)} queries, "
        f"{sql_ms:.1f} ms in SQL"
    )
    if args.queries:
        print_queries(queries)

    batch, walls, cpus = timed_batches(one, args.n)
    print(
        f"{len(walls) * batch} decisions: {sum(walls) / len(walls):.1f} ms wall (median batch "
        f"{walls[len(walls) // 2]:.1f}), {sum(cpus) / len(cpus):.1f} ms CPU per POST (this "
        f"process); best batch of {batch}: {walls[0]:.1f} ms wall, {min(cpus):.1f} ms CPU"
    )
    if not args.no_profile:
        print_profile(one, args.n, sort=args.sort, top=args.top)
    result = admin_decisions.verify(sent, len(sent), editor, slack=0)
    print(f"verified: {result}")
    if not result["stored_ok"]:
        raise SystemExit("some decisions are not stored as decided")


if __name__ == "__main__":
    main()
