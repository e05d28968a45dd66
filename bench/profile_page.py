"""Profile one page in-process: per-request time, SQL queries, and a cProfile of the hot path.

    .venv/bin/python bench/profile_page.py /mitigations/ --as reviewer -n 50
    .venv/bin/python bench/profile_page.py /admin/feedback/feedback/ --as editor --queries
    .venv/bin/python bench/profile_page.py /mitigations/SLUG/ --as reader --top 40
    .venv/bin/python bench/profile_page.py "/api/v1/mitigations?page=50" --as reviewer --token

Runs against the benchmark database (BENCH_DATABASE_URL, default portal_bench, seeded by
bench/run or bench/seed_scale.py) with the benchmark settings, through Django's test client
(the full middleware stack, no network), after one warm-up request. CPU time is what the
request costs a worker; the rest of the wall time is waiting (mostly for PostgreSQL).
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sign_in(client, user):
    """Sign the test client in as `user`, with a session that passed the second factor (as
    bench/drive.py's real sign-in leaves it): without it a reviewer acts as a reader."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        raise SystemExit(f"{user.username} has no second-factor device; was the seed run?")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument(
        "--as", dest="role", default="reader", choices=["reader", "reviewer", "editor"]
    )
    parser.add_argument("-n", type=int, default=30, help="requests to time and profile")
    parser.add_argument("--top", type=int, default=30, help="functions to show")
    parser.add_argument(
        "--sort", default="cumulative", help="pstats sort key (cumulative, tottime)"
    )
    parser.add_argument("--queries", action="store_true", help="print each SQL query of a request")
    parser.add_argument("--no-profile", action="store_true", help="timings and queries only")
    parser.add_argument(
        "--token",
        action="store_true",
        help="send a personal API token of the account (reviewer, editor) instead of a session",
    )
    args = parser.parse_args()

    from bench.inprocess import setup_django

    setup_django()
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    token = None
    if args.token:
        if args.role == "reader":
            raise SystemExit("--token needs --as reviewer or --as editor")
        token, raw = _make_token(get_user_model().objects.get(username=f"bench-{args.role}"))
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {raw}")
    elif args.role != "reader":
        sign_in(client, get_user_model().objects.get(username=f"bench-{args.role}"))
    try:
        _measure(args, client)
    finally:
        if token is not None:
            token.delete()


def _make_token(user):
    """A personal token of `user`, stored as the accounts app stores one (deleted after the
    run: the account's limit of active tokens is left as it was)."""
    import datetime
    import secrets

    from django.utils import timezone

    from portal.accounts import tokens
    from portal.accounts.models import ApiToken

    raw = tokens.TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name="profile_page",
        prefix=raw[: len(tokens.TOKEN_PREFIX) + 4],
        digest=tokens.digest(raw),
        expires_at=timezone.now() + datetime.timedelta(days=1),
    )
    return token, raw


def _measure(args, client):
    from bench.inprocess import print_profile, print_queries, sql_of, timed_batches

    def one():
        response = client.get(args.path)
        if response.status_code != 200:
            raise SystemExit(f"{args.path}: status {response.status_code}")
        return response

    one()  # warm-up: connection, caches, templates
    response, per_request, sql_ms = sql_of(one)
    print(
        f"{args.path} as {args.role}: {len(response.content) / 1024:.1f} KB, "
        f"{len(per_request)} queries, {sql_ms:.1f} ms in SQL"
    )
    if args.queries:
        print_queries(per_request)
    else:
        print_queries(sorted(per_request, reverse=True)[:5], width=160)
    shapes = Counter(sql.split(" WHERE ")[0][:90] for _, sql in per_request)
    repeated = [(n, s) for s, n in shapes.items() if n > 2]
    for n, shape in sorted(repeated, reverse=True):
        print(f"  repeated {n}x: {shape}")

    batch, walls, cpus = timed_batches(one, args.n)
    print(
        f"{args.n} requests: {sum(walls) / len(walls):.1f} ms wall, "
        f"{sum(cpus) / len(cpus):.1f} ms CPU per request (this process); best batch of "
        f"{batch}: {min(walls):.1f} ms wall, {min(cpus):.1f} ms CPU"
    )
    if args.no_profile:
        return
    print_profile(one, args.n, sort=args.sort, top=args.top)


if __name__ == "__main__":
    main()
