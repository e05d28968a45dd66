"""Drive a running portal with wrk, scenario by scenario, and report (called by bench/run).

    .venv/bin/python bench/drive.py --url http://127.0.0.1:PORT --server-pid PID \
        --url-uncached http://127.0.0.1:PORT2 --server-pid-uncached PID2 [--only home,...]

bench/run sets the environment (the same the servers run with: bench settings, database,
Redis, SECRET_KEY) and starts two servers: the portal as configured, and the same with the
page cache off (`PAGE_CACHE_SECONDS=0`). Every reader and
reviewer page scenario runs on both, one after the other. This script signs in for real,
checks every scenario once (status and what the role must and must not see), then runs wrk
(BENCH_THREADS threads, BENCH_CONNECTIONS connections) for BENCH_WARMUP seconds unrecorded
and BENCH_DURATION seconds recorded. The baseline runs first and last; ratios are to their
mean. It prints a table and writes bench/results/latest.json, a dated copy, and the table
into bench/README.md (full runs only).
"""

import argparse
import copy
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from bench import admin_decisions  # noqa: E402 - after the path is set

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
# --quick: shorter runs of a few scenarios (development; results kept in a dated file only).
QUICK_DURATION, QUICK_WARMUP = 4, 1
QUICK_SCENARIOS = {
    "baseline", "home", "detail_reader", "detail_reviewer", "list_filtered",
    "search_reader_cold", "feedback_post",
}  # fmt: skip
# The baselines at the start and the end of a run differing by more than this: noisy run.
NOISY = 0.15
PASSWORD = os.environ.get("BENCH_PASSWORD") or "bench-password-not-secret-42"
POST_POOL_RPS = 800  # feedback bodies prepared per second of run: more than the server takes
DECISION_POOL_RPS = 400  # editors' decisions prepared per second of run (pending items)

# Query words for the cold searches (bench/seed_scale.py's vocabulary).
COMMON_WORDS = "model risk data access safety audit security policy incident evaluation".split()  # noqa: SIM905
RARE_WORDS = ["sandbagging", "unlearning", "watermarking", "tripwires", "honeypots", "enclaves"]

RESTRICTED_NOTICE = "Preliminary data — do not share or cite."
HIDDEN_NOTICE = "available to signed-in reviewers"


# --- A tiny HTTP client (sign-in, checks) --------------------------------------------------


class Client:
    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.cookies = {}

    def request(self, method, path, data=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value in ("", '""'):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        conn.close()
        return response.status, response.headers, text

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


def form_value(html, name):
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    if not match:
        raise SystemExit(f"no {name} in the form")
    return match.group(1).replace("&amp;", "&")


def sign_in(url, username):
    client = Client(url)
    status, _, html = client.request("GET", "/accounts/signin/")
    assert status == 200, f"sign-in page: {status}"
    token = form_value(html, "csrfmiddlewaretoken")
    status, headers, _ = client.request(
        "POST",
        "/accounts/signin/",
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token, "next": ""},
    )
    if status != 302 or "sessionid" not in client.cookies:
        raise SystemExit(f"signing in as {username} failed ({status}); was the seed run?")
    location = headers.get("Location", "")
    if "/accounts/second-factor/" in location:
        # The second factor, with a real code computed from the account's device.
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from portal.accounts.second_factor import fresh_code

        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
        if device is None:
            raise SystemExit(f"{username} has no second-factor device; was the seed run?")
        path = urllib.parse.urlsplit(location)
        status, headers, _ = client.request(
            "POST",
            path.path + (f"?{path.query}" if path.query else ""),
            {
                "code": fresh_code(device),
                "csrfmiddlewaretoken": client.cookies.get("csrftoken", token),
            },
        )
        if status != 302:
            raise SystemExit(f"the second factor of {username} failed ({status})")
    return client


# --- Targets -------------------------------------------------------------------------------


def pick_pages(count=200):
    """Visible pages with both public and restricted figures, in a stable order."""
    from django.db.models import Exists, OuterRef

    from mitigations.models import Figure, Mitigation
    from portal.lib import access

    restricted = Figure.objects.filter(mitigation=OuterRef("pk")).filter(access.restricted_q())
    public = Figure.objects.filter(mitigation=OuterRef("pk")).exclude(access.restricted_q())
    return list(
        Mitigation.objects.exclude(status="draft")
        .filter(Exists(restricted), Exists(public))
        .order_by("code")
        .values("code", "slug")[:count]
    )


def feedback_forms(url, pages):
    """(page code, signed page version, CSRF token) of each page's real feedback form
    (GET /feedback/on/CODE/), and the CSRF cookie they belong to."""
    client = Client(url)
    forms = []
    for page in pages:
        status, _, html = client.request("GET", f"/feedback/on/{page['code']}/")
        assert status == 200, f"feedback form of {page['code']}: {status}"
        forms.append(
            (page["code"], form_value(html, "page"), form_value(html, "csrfmiddlewaretoken"))
        )
    assert "csrftoken" in client.cookies, "no CSRF cookie"
    return forms, client.cookie_header()


def feedback_bodies(forms, count, tag):
    """`count` valid page-feedback POSTs, each with its own stamp (and so its own nonce).

    Stamps are made by the portal's own `new_stamp`, dated FEEDBACK_MIN_SECONDS + 1 s back:
    fetching thousands of forms and waiting would only measure the form page again (it is
    measured as the detail page, which fills in a fresh stamp on every hit).
    """
    from django.conf import settings

    from feedback.antispam import new_stamp

    kinds = ["error", "source", "suggestion", "other"]
    sections = ["definition", "additional_information", "reasoning", "sources", "other"]
    issued = time.time() - settings.FEEDBACK_MIN_SECONDS - 1
    lines, nonces = [], []
    for i in range(count):
        code, page_value, csrf = forms[i % len(forms)]
        nonce = f"bench{tag}{i:07d}x{os.urandom(6).hex()}"
        nonces.append(nonce)
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": csrf,
                "section": sections[i % len(sections)],
                "kind": kinds[i % len(kinds)],
                "proposed_category": "",
                "comment": f"Benchmark feedback {tag}-{i}: the definition could say who "
                "carries out the audit and how often the results are published.",
                "name": "Bench Reader" if i % 3 == 0 else "",
                "email": "",
                "website": "",
                "stamp": new_stamp(now=issued, nonce=nonce),
                "page": page_value,
            }
        )
        lines.append(f"POST\t/feedback/on/{code}/\t{body}")
    return lines, nonces


DECISION_SCENARIOS = {"admin_row_decision": "row", "admin_save_next": "next"}


def decision_targets(client, kind):
    """Warm-up and measurement targets of the editors' `kind` decisions ("row" or "next";
    bench/admin_decisions.py), each deciding a different pending item with the editor's
    session and CSRF token: ((lines, [(id, decision)]) for warm-up, the same for the run).
    The forms are compared with a real queue page and change form first."""
    pool = admin_decisions.pending_pool(DECISION_POOL_RPS * (WARMUP + DURATION) + 400)
    if len(pool) < 1000:
        raise SystemExit(f"only {len(pool)} pending items: seed the database again")

    def get(path):
        status, _, html = client.request("GET", path)
        return status, html

    admin_decisions.check_real_forms(get, pool)
    _, _, html = client.request("GET", admin_decisions.change_path(pool[0][0]))
    csrf = form_value(html, "csrfmiddlewaretoken")
    split = DECISION_POOL_RPS * WARMUP + 200

    def targets(items):
        posts = admin_decisions.bodies(kind, items, csrf)
        return [f"POST\t{path}\t{body}" for path, body, _, _ in posts], [
            (pk, decision) for _, _, pk, decision in posts
        ]

    return targets(pool[:split]), targets(pool[split:])


# --- Scenarios -----------------------------------------------------------------------------


class Scenario:
    def __init__(
        self,
        name,
        label,
        role,
        targets,
        *,
        expect=200,
        location=None,
        check=None,
        primed=False,
        both=False,
    ):
        self.name, self.label, self.role = name, label, role
        self.primed = primed  # every target requested once before the warm-up
        self.both = both  # a page: measured with the page cache on and off
        self.cache = "on"  # which server: "on" (as configured) or "off" (page cache off)
        self.targets = targets  # ["METHOD\tPATH\tBODY", ...]
        self.expect, self.location = expect, location
        self.check = check  # (must contain, must not contain) for the sanity request
        self.cookie = ""
        self.authorization = ""  # an API token's header
        self.warmup_targets = None  # POST: a separate pool, so no body is sent twice

    @property
    def path(self):
        return self.targets[0].split("\t")[1]


def build_scenarios(url, static_path, pages, clients):

    from mitigations.models import Mitigation
    from portal.lib import access

    def get(*paths):
        return [f"GET\t{p}\t" for p in paths]

    details = [f"/mitigations/{p['slug']}/" for p in pages]
    # Cold: every visible page once, in a shuffled but fixed order (page-cache misses).
    everything = list(
        access.visible_mitigations(Mitigation.objects.all(), None).values_list("slug", flat=True)
    )
    everything.sort(key=lambda slug: hashlib.sha256(slug.encode()).hexdigest())
    cold_details = [f"/mitigations/{slug}/" for slug in everything]
    words = sorted(set(COMMON_WORDS) | set(RARE_WORDS))
    pairs = [(a, b) for a in words for b in words if a < b]
    triples = [(a, b, c) for a, b in pairs for c in words if b < c]
    cold_searches = ["/mitigations/?q=" + "+".join(q) for q in pairs + triples]
    cold_searches.sort(key=lambda path: hashlib.sha256(path.encode()).hexdigest())
    list_check = (["mitigation-card"], [])
    scenarios = [
        Scenario("baseline", "baseline (minimal view)", "reader", get("/bench/baseline")),
        Scenario("home", "home", "reader", get("/"), check=(["Browse by taxonomy"], []), both=True),
        Scenario(
            "detail_reader",
            f"detail ({len(details)} pages)",
            "reader",
            get(*details),
            check=([HIDDEN_NOTICE], [RESTRICTED_NOTICE, "Reviewers' discussion"]),
            primed=True,
            both=True,
        ),
        Scenario(
            "detail_reviewer",
            f"detail ({len(details)} pages)",
            "reviewer",
            get(*details),
            check=([RESTRICTED_NOTICE, "Reviewers' discussion"], [HIDDEN_NOTICE]),
            both=True,
        ),
        Scenario(
            "detail_reviewer_cold",
            "detail, page-cache misses (each page once)",
            "reviewer",
            get(*cold_details),
            check=(["Reviewers' discussion"], []),
            both=True,
        ),
        Scenario("list", "list", "reviewer", get("/mitigations/"), check=list_check, both=True),
        Scenario(
            "list_filtered",
            "list, filtered",
            "reviewer",
            get(FILTERED),
            check=list_check,
            both=True,
        ),
        Scenario(
            "list_page50",
            "list, page 50",
            "reviewer",
            get("/mitigations/?page=50"),
            check=list_check,
            both=True,
        ),
        Scenario(
            "search_common",
            "search 'model' (common)",
            "reviewer",
            get("/mitigations/?q=model"),
            check=list_check,
            both=True,
        ),
        Scenario(
            "search_rare",
            "search 'sandbagging' (rare)",
            "reviewer",
            get("/mitigations/?q=sandbagging"),
            check=list_check,
            both=True,
        ),
        Scenario(
            "search_id",
            "search, id (straight to the page)",
            "reviewer",
            get(*(f"/mitigations/?q={p['code'].lower()}" for p in pages)),
            expect=302,
            location="/mitigations/",
        ),
        Scenario(
            "search_typo",
            "search, typo ('modle': Did you mean)",
            "reviewer",
            get("/mitigations/?q=modle+evaluatoin"),
            check=(["Did you mean"], []),
        ),
        Scenario(
            "changelog",
            f"changelog ({len(details)} pages)",
            "reviewer",
            get(*(f"{d}changes/" for d in details)),
            check=(["History of"], []),
        ),
        Scenario(
            "list_reader", "list", "reader", get("/mitigations/"), check=list_check, both=True
        ),  # fmt: skip
        Scenario(
            "list_filtered_reader",
            "list, filtered",
            "reader",
            get(FILTERED),
            check=list_check,
            both=True,
        ),
        Scenario(
            "search_reader",
            "search 'model'",
            "reader",
            get("/mitigations/?q=model"),
            check=list_check,
            both=True,
        ),
        Scenario(
            "search_reader_cold",
            "search, 2 words, different each time",
            "reader",
            get(*cold_searches),
            check=(["result-count"], []),
            both=True,
        ),
        Scenario(
            "feedback_post",
            "feedback POST (valid, unique nonce)",
            "reader",
            [],
            expect=302,
            location="/feedback/thanks/",
        ),
        Scenario(
            "admin_feedback",
            "admin feedback list (1M rows)",
            "editor",
            get("/admin/feedback/feedback/"),
            check=(['id="result_list"'], []),
        ),
        Scenario(
            "admin_feedback_filtered",
            "admin feedback, status+kind filter",
            "editor",
            get("/admin/feedback/feedback/?kind__exact=classification&status__exact=approved"),
            check=(['id="result_list"'], []),
        ),
        Scenario(
            "admin_feedback_category",
            "admin feedback, category filter",
            "editor",
            get("/admin/feedback/feedback/?category=1.2"),
            check=(['id="result_list"'], []),
        ),
        *api_scenarios(pages, get),
        Scenario(
            "admin_row_decision",
            "admin row decision (POST)",
            "editor",
            [],
            expect=302,
            location=admin_decisions.QUEUE,
        ),
        Scenario(
            "admin_save_next",
            "admin save and next (POST)",
            "editor",
            [],
            expect=302,
            location=admin_decisions.QUEUE,
        ),
        *(
            Scenario(
                f"admin_feedback_{name}",
                f"admin feedback preset: {label}",
                "editor",
                get(f"/admin/feedback/feedback/?{query}"),
                # the changelist, with rows or without (Mine is empty for the bench editor)
                check=(['id="changelist-form"'], []),
            )
            for name, label, query in ADMIN_PRESETS
        ),
        Scenario("healthz", "/healthz", "reader", get("/healthz"), check=(['"ok"'], [])),
        Scenario("static", "static file (whitenoise)", "reader", get(static_path)),
    ]
    for s in scenarios:
        if s.role == "reviewer_token":
            s.authorization = f"Bearer {clients['reviewer_token']}"
        elif s.role != "reader":
            s.cookie = clients[s.role].cookie_header()
    # Every page scenario again on the server with the page cache off, right after it.
    paired = []
    for s in scenarios:
        paired.append(s)
        if s.both:
            off = copy.copy(s)
            off.name, off.cache, off.primed = f"{s.name}_off", "off", False
            paired.append(off)
    paired.append(copy.copy(scenarios[0]))  # the baseline again at the end
    paired[-1].name = "baseline_end"
    return paired


FILTERED = "/mitigations/?category=2&actor=developer&lifecycle=deploy-and-use&sort=-updated"


def _ratio(minimum, p99=None):
    def check(r, b):
        return r["rps"] >= minimum * b and (p99 is None or r["p99_ms"] < p99)

    return (f"rps >= {minimum} x baseline" + (f", p99 < {p99} ms" if p99 else ""), check)


def api_scenarios(pages, get):
    """The read API: list page 50 and details, anonymous (shared cache) and with a token."""
    details = [f"/api/v1/mitigations/{p['code']}?expand=figures" for p in pages]
    scenarios = []
    for role in ("reader", "reviewer_token"):
        must, must_not = ('"restricted":true', "") if role != "reader" else ("", '"restricted"')
        scenarios += [
            Scenario(f"api_list_page50_{role}", "api list, page 50", role,
                     get("/api/v1/mitigations?page=50"), check=(['"results"'], [])),
            Scenario(f"api_detail_{role}", f"api detail ({len(details)}, figures)", role,
                     get(*details), check=([m for m in [must] if m], [m for m in [must_not] if m]),
                     primed=role == "reader"),
        ]  # fmt: skip
    return scenarios


def api_token(client):
    """A reviewer's personal API token, made on the account page like a person would, after
    revoking the bench account's earlier ones there (an account holds at most ten)."""
    status, _, html = client.request("GET", "/accounts/")
    csrf = form_value(html, "csrfmiddlewaretoken")
    for token_id in re.findall(r'action="/accounts/tokens/(\d+)/revoke/"', html):
        revoke = f"/accounts/tokens/{token_id}/revoke/"
        client.request("POST", revoke, {"csrfmiddlewaretoken": csrf})
    status, _, html = client.request("GET", "/accounts/")
    csrf = form_value(html, "csrfmiddlewaretoken")
    data = {"name": "bench", "lifetime_days": "30", "csrfmiddlewaretoken": csrf}
    status, _, html = client.request("POST", "/accounts/tokens/", data)
    match = re.search(r'id="new-api-token">([^<]+)<', html)
    if status != 200 or not match:
        raise SystemExit(f"creating an API token failed ({status})")
    return match.group(1)


# The editors' queue presets (feedback/admin/feedback_admin.py PRESETS).
ADMIN_PRESETS = [
    ("pending", "Pending", "status__exact=pending"),
    ("needs_resolution", "Needs a resolution", "status__exact=approved&resolution__exact=open"),
    ("mine", "Mine", "claimed=me"),
    ("overdue", "Overdue", "due=overdue"),
    ("spam", "Spam", "status__exact=spam"),
]
QUEUE_TARGET = ("p50 < 80 ms, p99 < 250 ms", lambda r, b: r["p50_ms"] < 80 and r["p99_ms"] < 250)

TARGETS = {
    # scenario -> (what, check(result, baseline) -> bool). Issue 17: pages rendered without the
    # page cache ("_off") are fast on their own; with it, hits stay as fast as they were.
    "detail_reader_off": _ratio(0.10),
    "detail_reviewer_off": _ratio(0.08, p99=50),
    "list_off": _ratio(0.08),
    "list_filtered_off": _ratio(0.08),
    "list_reader_off": _ratio(0.08),
    "list_filtered_reader_off": _ratio(0.08),
    "search_reader_cold_off": _ratio(0.06),
    "home_off": _ratio(0.10),
    "home": _ratio(0.5),
    "detail_reader": _ratio(0.5),
    "list_reader": _ratio(0.5),
    # The read API (issue 16): public bodies come from the cache; tokens are rendered per role.
    "api_list_page50_reader": _ratio(0.3),
    "api_detail_reader": _ratio(0.3),
    **{
        name: ("p99 < 100 ms", lambda r, b: r["p99_ms"] < 100)
        for name in ("api_list_page50_reviewer_token", "api_detail_reviewer_token")
    },
    "feedback_post": (
        "rps >= 0.17 x baseline, 0 errors, every accepted post stored",
        lambda r, b: r["rps"] >= 0.17 * b and r["errors"] == 0 and r.get("stored_ok", False),
    ),
    "admin_feedback": QUEUE_TARGET,
    **{
        name: (
            f"p50 < {p50} ms, 0 errors, every decision stored",
            lambda r, b, p50=p50: r["p50_ms"] < p50 and r["errors"] == 0 and r.get("stored_ok"),
        )
        for name, p50 in (("admin_row_decision", 80), ("admin_save_next", 100))
    },
    **{f"admin_feedback_{name}": QUEUE_TARGET for name, _label, _query in ADMIN_PRESETS},
    "admin_feedback_filtered": ("p50 < 300 ms", lambda r, b: r["p50_ms"] < 300),
    "admin_feedback_category": ("p50 < 300 ms", lambda r, b: r["p50_ms"] < 300),
}


def sanity_check(url, scenario, clients):
    if not scenario.check:
        return
    client = Client(url)
    if isinstance(clients.get(scenario.role), Client):
        client.cookies = dict(clients[scenario.role].cookies)
    path = scenario.path
    headers = {"Authorization": scenario.authorization} if scenario.authorization else None
    status, _, html = client.request("GET", path, headers=headers)
    must, must_not = scenario.check
    problems = [f"status {status}"] if status != 200 else []
    problems += [f"missing {m!r}" for m in must if m not in html]
    problems += [f"shows {m!r}" for m in must_not if m in html]
    if problems:
        raise SystemExit(f"{scenario.name} ({scenario.role}) {path}: {', '.join(problems)}")


def run_wrk(url, scenario, targets, seconds, workdir):
    targets_file = workdir / f"{scenario.name}-{seconds}.targets"
    targets_file.write_text("\n".join(targets) + "\n", encoding="utf-8")
    out = workdir / f"{scenario.name}-{seconds}.json"
    env = {
        **os.environ,
        "BENCH_TARGETS": str(targets_file),
        "BENCH_THREADS": str(THREADS),
        "BENCH_COOKIE": scenario.cookie,
        "BENCH_AUTHORIZATION": scenario.authorization,
        "BENCH_EXPECT": str(scenario.expect),
        "BENCH_LOCATION": scenario.location or "",
        "BENCH_OUT": str(out),
    }
    command = [
        "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(BENCH / "lua" / "scenario.lua"), url + scenario.path,
    ]  # fmt: skip
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, timeout=seconds + 60)
    result = json.loads(out.read_text())
    tokens = Path(f"{out}.tokens").read_text().split()
    result["tokens"] = tokens
    return result


def summarise(raw):
    e = raw["socket_errors"]
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(lat["p50"] / 1000, 1),
        "p90_ms": round(lat["p90"] / 1000, 1),
        "p99_ms": round(lat["p99"] / 1000, 1),
        "max_ms": round(lat["max"] / 1000, 1),
        "errors": e["connect"] + e["read"] + e["write"] + e["timeout"] + raw["unexpected"],
        "socket_errors": e,
        "non_2xx_3xx": raw["non_2xx_3xx"],
        "unexpected_status": raw["unexpected"],
        "statuses": raw["statuses"],
        "kb_per_response": round(raw["bytes"] / max(1, raw["requests"]) / 1024, 1),
    }


# --- CPU accounting (robust to other load on the machine) ----------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
    return int(fields[1]), [int(x) for x in fields[11:15]]


def server_cpu_seconds(master):
    """CPU of the gunicorn master, its live workers and the workers it has reaped."""
    if not master:
        return None
    own = _stat(master)
    if own is None:
        return None
    total = sum(own[1])
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(entry)
            if stat and stat[0] == master:
                total += stat[1][0] + stat[1][1]
    return total / TICK


def db_cpu_ticks():
    """{pid: CPU ticks} of the PostgreSQL backends serving the benchmark database (other
    databases on the same server are not counted)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    ticks = {}
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            ticks[pid] = stat[1][0] + stat[1][1]
    return ticks


def _db_delta(before, after):
    """CPU seconds the backends used in between (a backend that exited in between took its
    time along: the figure is a lower bound)."""
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / TICK


class CpuMeter:
    def __init__(self, master):
        self.master = master

    def __enter__(self):
        self.app = server_cpu_seconds(self.master)
        self.db = db_cpu_ticks()
        self.wrk = _children_cpu()
        return self

    def __exit__(self, *exc):
        app = server_cpu_seconds(self.master)
        self.app = None if app is None or self.app is None else app - self.app
        self.db = _db_delta(self.db, db_cpu_ticks())
        self.wrk = _children_cpu() - self.wrk

    def per_request(self, requests):
        n = max(1, requests)

        def ms(value):
            return None if value is None else round(value / n * 1000, 2)

        return {"app_cpu_ms": ms(self.app), "db_cpu_ms": ms(self.db), "wrk_cpu_ms": ms(self.wrk)}


def _children_cpu():
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prime(url, scenario):
    """Request each target once (4 at a time), so that a cached-page scenario measures cached
    pages. Must finish well within PAGE_CACHE_SECONDS."""
    from concurrent.futures import ThreadPoolExecutor

    client = Client(url)
    headers = {"Cookie": scenario.cookie} if scenario.cookie else {}

    def fetch(line):
        method, path, _ = line.split("\t", 2)
        conn = http.client.HTTPConnection(client.host, client.port, timeout=60)
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return path, response.status

    with ThreadPoolExecutor(4) as pool:
        for path, status in pool.map(fetch, scenario.targets):
            if status != scenario.expect:
                raise SystemExit(f"{scenario.name}: {path} answered {status} when primed")


# --- Machine -------------------------------------------------------------------------------


def machine():
    from django.db import connection

    info = {"nproc": os.cpu_count(), "python": platform.python_version()}
    with open("/proc/meminfo") as f:
        total = next(line for line in f if line.startswith("MemTotal"))
    info["memory_gb"] = round(int(total.split()[1]) / 2**20, 1)
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    info["cpu"] = models[0] if models else platform.processor()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        info["postgresql"] = cursor.fetchone()[0]
    try:
        import redis

        info["redis"] = redis.Redis.from_url(os.environ["REDIS_URL"]).info()["redis_version"]
    except Exception:  # noqa: BLE001 - no Redis: the benchmark runs with the local cache
        info["redis"] = None
    import django
    import gunicorn

    info["django"] = django.get_version()
    info["gunicorn"] = gunicorn.__version__
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    info["wrk"] = (wrk.stdout or wrk.stderr).split("\n")[0].split(" Copyright")[0]
    return info


def gunicorn_config():
    import runpy

    conf = runpy.run_path(str(ROOT / "portal" / "gunicorn_conf.py"))
    return {k: conf[k] for k in ("workers", "threads", "worker_class", "keepalive", "max_requests")}


# --- Report --------------------------------------------------------------------------------


def _server_cpu(r):
    if r.get("app_cpu_ms") is None:
        return None
    return r["app_cpu_ms"] + (r.get("db_cpu_ms") or 0)


def table(results, baseline):
    head = (
        "| scenario | as | page cache | req/s | p50 ms | p99 ms | errors | ratio to baseline "
        "| server CPU ms/req (app + db) | target |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for r in results:
        target = r.get("target")
        verdict = "" if not target else ("met" if r["target_met"] else "**MISSED**")
        cpu = _server_cpu(r)
        cpu_text = (
            "" if cpu is None else f"{cpu:.2f} ({r['app_cpu_ms']:.2f} + {r['db_cpu_ms']:.2f})"
        )
        rows.append(
            f"| {r['label']} | {r['role']} | {r.get('page_cache', '')} | {r['rps']:.0f} | "
            f"{r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} | {r['rps'] / baseline:.2f} | {cpu_text} | "
            f"{(target + ': ' + verdict) if target else ''} |"
        )
    return head + "\n".join(rows) + "\n"


def update_readme(text):
    readme = BENCH / "README.md"
    if not readme.exists():
        return
    content = readme.read_text(encoding="utf-8")
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start in content and end in content:
        before = content.split(start)[0]
        after = content.split(end, 1)[1]
        readme.write_text(f"{before}{start}\n{text}{end}{after}", encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--rerender", metavar="JSON", help="only print/write a saved report")
    parser.add_argument("--server-pid", type=int, help="gunicorn master (for CPU per request)")
    parser.add_argument("--url-uncached", help="the same portal with the page cache off")
    parser.add_argument("--server-pid-uncached", type=int, help="its gunicorn master")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_DURATION} s runs of a few scenarios: {', '.join(sorted(QUICK_SCENARIOS))}",
    )
    parser.add_argument("--only", help="comma-separated scenario names (baseline always runs)")
    parser.add_argument(
        "--no-save", action="store_true", help="print only; keep results as they are"
    )
    args = parser.parse_args()
    if args.rerender:
        return rerender(args.rerender)
    if not args.url:
        parser.error("--url is required")
    global DURATION, WARMUP
    if args.quick:
        DURATION = int(os.environ.get("BENCH_DURATION", QUICK_DURATION))
        WARMUP = int(os.environ.get("BENCH_WARMUP", QUICK_WARMUP))
    servers = {"on": (args.url.rstrip("/"), args.server_pid)}
    if args.url_uncached:
        servers["off"] = (args.url_uncached.rstrip("/"), args.server_pid_uncached)
    url = servers["on"][0]

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.staticfiles.storage import staticfiles_storage

    from feedback.models import Feedback

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    load_before = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    clients = {"reviewer": sign_in(url, "bench-reviewer"), "editor": sign_in(url, "bench-editor")}
    clients["reviewer_token"] = api_token(clients["reviewer"])
    pages = pick_pages()
    assert len(pages) >= 50, "too few pages with restricted figures: seed the database"
    scenarios = build_scenarios(url, "/static/" + staticfiles_storage.stored_name("css/portal.css"),
                                pages, clients)  # fmt: skip
    scenarios = [s for s in scenarios if s.cache in servers]
    wanted = QUICK_SCENARIOS if args.quick else None
    if args.only:
        wanted = {"baseline", *args.only.split(",")}
    if wanted:
        wanted |= {f"{name}_off" for name in wanted} | {"baseline_end"}
        scenarios = [s for s in scenarios if s.name in wanted]

    results = []
    baseline = None
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        workdir = Path(tmp)
        for scenario in scenarios:
            url, server_pid = servers[scenario.cache]
            extra = {}
            if scenario.name == "feedback_post":
                forms, scenario.cookie = feedback_forms(url, pages[:100])
                scenario.warmup_targets, warm_nonces = feedback_bodies(
                    forms, POST_POOL_RPS * WARMUP + 500, "w"
                )
                scenario.targets, nonces = feedback_bodies(
                    forms, POST_POOL_RPS * DURATION + 500, "m"
                )
                rows_before = Feedback.objects.count()
            elif scenario.name in DECISION_SCENARIOS:
                editor_client = clients["editor"]
                (scenario.warmup_targets, warm_sent), (scenario.targets, sent) = decision_targets(
                    editor_client, DECISION_SCENARIOS[scenario.name]
                )
                cookies = {k: v for k, v in editor_client.cookies.items() if k != "messages"}
                scenario.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            else:
                sanity_check(url, scenario, clients)
            if scenario.primed:
                prime(url, scenario)
            if WARMUP:
                warm = run_wrk(url, scenario, scenario.warmup_targets or scenario.targets,
                               WARMUP, workdir)  # fmt: skip
            with CpuMeter(server_pid) as cpu:
                raw = run_wrk(url, scenario, scenario.targets, DURATION, workdir)
            result = {**summarise(raw), **cpu.per_request(raw["requests"])}
            if scenario.name == "feedback_post":
                time.sleep(1)  # let posts that were in flight when wrk stopped finish
                runs = [raw, warm] if WARMUP else [raw]
                tokens = [t for run in runs for t in run["tokens"]]
                rows_after = Feedback.objects.count()
                stored = sum(
                    Feedback.objects.filter(token__in=tokens[i : i + 5000]).count()
                    for i in range(0, len(tokens), 5000)
                )
                ours = Feedback.objects.filter(submission_id__in=nonces + warm_nonces).count()
                wrapped = sum(run["wrapped"] for run in runs)
                extra = {
                    "rows_before": rows_before,
                    "rows_after": rows_after,
                    # accepted = answered 302 to /feedback/thanks/TOKEN/ (warm-up included)
                    "accepted": len(tokens),
                    "accepted_and_stored": stored,
                    "stored_with_our_nonces": ours,
                    # posts the server finished after wrk stopped counting (<= connections)
                    "in_flight_at_stop": ours - len(tokens),
                    "pool_wrapped": wrapped,
                    "stored_ok": (
                        stored == len(tokens) == len(set(tokens))
                        and rows_after - rows_before == ours
                        and 0 <= ours - len(tokens) <= CONNECTIONS * len(runs)
                        and not wrapped
                    ),
                }
            if scenario.name in DECISION_SCENARIOS:
                time.sleep(1)  # let decisions that were in flight when wrk stopped finish
                runs = [raw, warm] if WARMUP else [raw]
                wrapped = sum(run["wrapped"] for run in runs)
                extra = admin_decisions.verify(
                    sent + (warm_sent if WARMUP else []),
                    sum(len(run["tokens"]) for run in runs),
                    get_user_model().objects.get(username="bench-editor"),
                    slack=CONNECTIONS * len(runs),
                )
                extra["pool_wrapped"] = wrapped
                extra["stored_ok"] = extra["stored_ok"] and not wrapped
            result = {"name": scenario.name, "label": scenario.label, "role": scenario.role,
                      "page_cache": scenario.cache if scenario.both else "",
                      "path": scenario.path, **result, **extra}  # fmt: skip
            results.append(result)
            line = (
                f"{scenario.name:<28} {scenario.role:<8} {result['rps']:8.1f} req/s  "
                f"p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
                f"errors {result['errors']}  cpu/req app {result['app_cpu_ms']} "
                f"db {result['db_cpu_ms']} wrk {result['wrk_cpu_ms']} ms"
            )
            if scenario.name in DECISION_SCENARIOS:
                line += (
                    f"  (redirects {extra['replies']}, items decided {extra['decided']}, "
                    f"wrongly {extra['decided_wrongly']}, stored_ok {extra['stored_ok']})"
                )
            elif extra:
                line += (
                    f"  (accepted {extra['accepted']}, of them stored "
                    f"{extra['accepted_and_stored']}; rows {extra['rows_before']} -> "
                    f"{extra['rows_after']})"
                )
            if result["errors"]:
                line += f"  statuses {result['statuses']}"
            print(line, flush=True)

    baselines = [r["rps"] for r in results if r["name"] in ("baseline", "baseline_end")]
    baseline = sum(baselines) / len(baselines)
    spread = (max(baselines) - min(baselines)) / baseline
    if spread > NOISY:
        print(
            f"NOISY RUN: the baseline moved by {spread:.0%} between start and end "
            f"({' -> '.join(f'{b:.0f}' for b in baselines)} req/s): other load on the machine; "
            "compare CPU per request, or run again",
            flush=True,
        )
    for r in results:
        if r["name"] in TARGETS:
            r["target"], check = TARGETS[r["name"]]
            r["target_met"] = bool(check(r, baseline))
        r["ratio"] = round(r["rps"] / baseline, 3)
    info = machine()
    report = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": info,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "config": {
            "threads": THREADS,
            "connections": CONNECTIONS,
            "duration_s": DURATION,
            "warmup_s": WARMUP,
            "gunicorn": gunicorn_config(),
            "database": os.environ.get("DATABASE_URL", "").rsplit("/", 1)[-1],
            "mitigations": _count("mitigations_mitigation"),
            "feedback_rows": Feedback.objects.count(),
            "redis": os.environ.get(
                "BENCH_REDIS_KIND", "shared" if os.environ.get("REDIS_URL") else "none"
            ),
            "page_cache_seconds": settings.PAGE_CACHE_SECONDS,
            "page_cache_signed_in": bool(getattr(settings, "PAGE_CACHE_SIGNED_IN", False)),
            "page_cache_off_server": "off" in servers,
        },
        "baseline_rps": baseline,
        "baselines_rps": baselines,
        "quick": bool(args.quick),
        "scenarios": results,
    }
    header, text = render(report)
    print()
    print(header + text)
    missed = [r["name"] for r in results if r.get("target") and not r["target_met"]]
    print("targets missed: " + (", ".join(missed) if missed else "none"))
    if not args.no_save:
        out = BENCH / "results"
        out.mkdir(exist_ok=True)
        payload = json.dumps(report, indent=2) + "\n"
        # All scenarios: the latest results and the README table. Other runs keep a dated
        # file of their own.
        suffix = "-quick" if args.quick else "-partial" if args.only else ""
        dated = f"{started.strftime('%Y%m%d-%H%M%S')}{suffix}.json"
        (out / dated).write_text(payload, encoding="utf-8")
        if not suffix:
            (out / "latest.json").write_text(payload, encoding="utf-8")
            (out / "latest.md").write_text(header + text, encoding="utf-8")
            update_readme(header + text)
        print(f"results: {out / dated}")


def render(report):
    """(header, markdown table) of a report."""
    info, config = report["machine"], report["config"]
    header = (
        f"Run {report['started']} on {info['nproc']} CPUs ({info['cpu']}), "
        f"{info['memory_gb']} GB RAM; PostgreSQL {info['postgresql']}, Redis {info['redis']}, "
        f"Python {info['python']}, Django {info['django']}, gunicorn {info['gunicorn']} "
        f"({config['gunicorn']['workers']} {config['gunicorn']['worker_class']} workers), "
        f"{info['wrk']}; wrk -t{config['threads']} -c{config['connections']}, "
        f"{config['duration_s']} s per scenario after {config['warmup_s']} s warm-up, load "
        f"generator on the same machine; {config['mitigations']} mitigations, "
        f"{config['feedback_rows']} feedback rows; page cache "
        f"{config.get('page_cache_seconds', 60)} s, for signed-in users "
        f'{"on" if config["page_cache_signed_in"] else "off"} ("off" rows: a second server '
        f"with the page cache off). Baseline {report['baseline_rps']:.0f} req/s "
        f"(start, end: {', '.join(f'{b:.0f}' for b in report.get('baselines_rps', []))}). "
        f"Load average (1 min) before the run: {report['load_average_before'][0]} "
        f"(during a run the benchmark itself makes it ~5).\n\n"
    )
    return header, table(report["scenarios"], report["baseline_rps"])


def rerender(path):
    """Write latest.md and the README table again from a saved report (no measuring)."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    header, text = render(report)
    print(header + text)
    if not report.get("quick"):
        (BENCH / "results" / "latest.md").write_text(header + text, encoding="utf-8")
        update_readme(header + text)


def _count(table):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a fixed table name
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
