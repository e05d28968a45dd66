"""Seed a PostgreSQL database at benchmark scale: 10,000 mitigations and 1,000,000 feedback rows.

    .venv/bin/python bench/seed_scale.py             # DATABASE_URL, else portal_bench
    .venv/bin/python bench/seed_scale.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench
    .venv/bin/python bench/seed_scale.py --reset     # drop and seed again

Creates the database if it does not exist, migrates it, then tops it up to the wanted size:

* the catalogue (taxonomy, facets, 400 sources, mitigations with ~6 figures each, related
  links, sources, facets) is generated in the import format and loaded through
  `mitigations.importer.import_dataset` (an idempotent upsert: the same seed gives the same
  data, so a second run changes nothing);
* two accounts that the benchmark signs in with (`bench-reviewer`, `bench-editor`; password
  from BENCH_PASSWORD, and an authenticator device for the second factor) plus 100 accounts
  without a password that feedback is attributed to;
* feedback rows with COPY until the table holds `--feedback` rows. Distribution: three
  years of history with volume growing over time, pending mostly in the last month, the
  rest approved / rejected / spam with resolutions, popular pages getting more feedback
  (Zipf), 10 % general feedback, ~8 % by signed-in users, unique submission ids and tokens.
  The table's secondary indexes are dropped and rebuilt around the COPY, all in one
  transaction (an interrupted run leaves nothing behind). No history rows are written for
  seeded feedback (nothing measured reads them).

Idempotent: a database that already has the wanted size is left as it is (a few seconds).
"""

import argparse
import base64
import datetime
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
DEFAULT_PASSWORD = "bench-password-not-secret-42"  # noqa: S105 - local benchmark accounts
LOGIN_ACCOUNTS = {"bench-reviewer": "reviewer", "bench-editor": "editor"}

# --- Vocabulary: common words are drawn with Zipf weights, rare terms are sprinkled -------
COMMON = """
model models risk risks system systems data access safety evaluation evaluations developer
developers deployment training capability capabilities security policy oversight review
testing monitoring governance weights incident incidents external audit audits threat
control response reporting deployer deployers misuse harm harms process processes assessment
information public organisation organisations independent framework frameworks measure
measures requirement requirements report reports standard standards level levels research
researchers user users team teams decision decisions release staged internal disclosure
document documentation evidence procedure procedures third party government regulator
regulators compute infrastructure dangerous critical protection protections mitigation
controls before after during across high frontier general purpose open source secure
environment environments red teaming adversarial robustness alignment interpretability
transparency accountability liability insurance licensing registry registration threshold
thresholds benchmark benchmarks dataset datasets provenance filtering fine tuning
deployment-time runtime logging retention incident-response escalation shutdown rollback
sandbox sandboxing isolation encryption authentication authorisation identity verification
customer customers know screening export chips hardware cloud providers api rate limits
usage policies terms enforcement appeals complaints whistleblower whistleblowers protections
board committee ethics review audits auditors certification conformity assessment notified
body bodies market surveillance authority authorities cooperation international agreement
treaty summit commitments voluntary binding guidance code practice sector specific cross
cutting biological chemical nuclear radiological cyber offensive defensive uplift novice
expert experts elicitation scaffolding agents agentic autonomy autonomous replication
persuasion manipulation deception sycophancy bias discrimination fairness privacy personal
surveillance labour market concentration power competition openness reproducibility
""".split()  # noqa: SIM905
RARE = """
sandbagging steganalysis unlearning watermarking canaries tripwires honeypots circuitbreakers
gradient-routing activation-steering probing-classifiers refusal-training constitutional
debate amplification distillation quantisation pruning compartmentalisation air-gapping
two-person-rule key-escrow attestation enclaves confidential-computing remote-attestation
model-cards system-cards datasheets nutrition-labels incident-databases bug-bounties
safe-harbour coordinated-disclosure embargoes pre-registration holdout-sets contamination
canary-strings dual-use know-your-customer kyc compute-thresholds flop-thresholds
chip-tracking location-verification export-licences end-use-checks tamper-evidence
secure-boot firmware-signing bill-of-materials sbom aibom provenance-chains c2pa content-credentials
deepfake-detection synthetic-media labelling disclosure-notices liveness-checks
""".split()  # noqa: SIM905
LIFECYCLE = ["Plan and Design", "Collect and Process Data", "Build and Use Model",
             "Verify and Validate", "Deploy and Use", "Operate and Monitor"]  # fmt: skip
ACTORS = ["Developer", "Deployer", "User", "Government", "Third-party auditor",
          "External researcher", "Compute provider"]  # fmt: skip
RMF = ["Govern", "Map", "Measure", "Manage", "Unable to classify"]
RISK_AREAS = ["CBRN", "Cyber offence", "Critical infrastructure", "Democratic processes",
              "Discrimination and bias", "Privacy", "Loss of control"]  # fmt: skip
GIVEN = "Ada Ben Chen Dana Emeka Farah Goran Hana Ines Jonas Kofi Lena Mateo Nadia Omar".split()  # noqa: SIM905
SURNAMES = "Adeyemi Brown Costa Dubois Eriksson Fischer Garcia Hughes Ivanova Jensen Kim".split()  # noqa: SIM905

# Words whose document frequency the benchmark relies on (see bench/run).
COMMON_WORD = "model"
RARE_WORD = "sandbagging"


class Text:
    """Sentences from the vocabulary: Zipf-weighted common words, occasional rare terms."""

    def __init__(self, rng):
        self.rng = rng
        weights = [1 / (rank**1.05) for rank in range(1, len(COMMON) + 1)]
        total, acc, self.cum = sum(weights), 0.0, []
        for w in weights:
            acc += w / total
            self.cum.append(acc)

    def words(self, n):
        return self.rng.choices(COMMON, cum_weights=self.cum, k=n)

    def sentence(self, lo, hi, rare=0.0):
        words = self.words(self.rng.randint(lo, hi))
        if rare and self.rng.random() < rare:
            words.insert(self.rng.randrange(len(words) + 1), self.rng.choice(RARE))
        return " ".join(words).capitalize() + "."

    def paragraph(self, sentences, rare=0.0):
        return " ".join(self.sentence(8, 22, rare) for _ in range(sentences))


# --- The catalogue in the import format ----------------------------------------------------


def _write(folder, table, columns, rows):
    import csv

    with open(folder / f"{table}.csv", "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def generate_catalogue(folder: Path, count: int, seed: int = 20261129) -> dict:
    rng = random.Random(seed)
    text = Text(rng)
    leaves, taxonomy = [], []
    for a in range(1, 5):
        taxonomy.append([str(a), f"{text.sentence(2, 4)[:-1]}", text.sentence(10, 20)])
        for b in range(1, 6):
            taxonomy.append([f"{a}.{b}", text.sentence(2, 5)[:-1], text.sentence(10, 20)])
            for c in range(1, 7):
                code = f"{a}.{b}.{c}"
                leaves.append(code)
                taxonomy.append([code, text.sentence(2, 6)[:-1], text.sentence(12, 30)])
    groups = [row[0] for row in taxonomy if row[0].count(".") == 1]
    _write(folder, "taxonomy", ["code", "name", "description"], taxonomy)
    for table, names in (
        ("lifecycle_stages", LIFECYCLE),
        ("actors", ACTORS),
        ("rmf_functions", RMF),
    ):
        rows = [[name, text.sentence(8, 16), i] for i, name in enumerate(names, 1)]
        _write(folder, table, ["name", "description", "position"], rows)
    sources = [f"src{i:04d}" for i in range(400)]
    source_rows = []
    for i, key in enumerate(sources):
        authors = "; ".join(
            f"{rng.choice(SURNAMES)}, {rng.choice(GIVEN)}" for _ in range(rng.randint(1, 5))
        )
        source_rows.append([
            key, text.sentence(5, 14)[:-1], authors, 2012 + i % 14,
            f"https://example.org/papers/{key}" if i % 7 else "",
            f"10.5555/{key}" if i % 3 else "", text.paragraph(rng.randint(3, 8)),
        ])  # fmt: skip
    _write(folder, "sources", ["id", "title", "authors", "year", "url", "doi", "abstract"],
           source_rows)  # fmt: skip
    ids = [f"M{i:05d}" for i in range(count)]
    statuses = ["published"] * 10 + ["polishing"] * 7 + ["draft"] * 3
    rows = []
    for i, mid in enumerate(ids):
        related = sorted({rng.choice(ids) for _ in range(rng.randint(0, 6))} - {mid})
        other_lifecycle = rng.sample(LIFECYCLE, rng.randint(0, 2))
        additional = "\n\n".join(
            [
                text.paragraph(rng.randint(2, 4), rare=0.2),
                "\n".join(f"- {text.sentence(4, 10)}" for _ in range(rng.randint(2, 5))),
                text.paragraph(rng.randint(1, 3), rare=0.2)
                + f" See [the evidence](https://example.org/evidence/{mid.lower()}).",
            ]
        )
        rows.append([
            mid, f"{text.sentence(3, 7, rare=0.05)[:-1]} ({i})", text.sentence(18, 40, rare=0.1),
            additional, text.paragraph(rng.randint(1, 3)),
            "human" if i % 9 == 0 else "classifier",
            rng.choice(leaves) if i % 10 else rng.choice(groups),
            rng.choice(LIFECYCLE), "; ".join(other_lifecycle),
            rng.choice(ACTORS), "; ".join(rng.sample(ACTORS, rng.randint(0, 2))),
            rng.choice(RMF[:4]) if i % 25 else "",
            "; ".join(rng.sample(RMF[:4], rng.randint(0, 1))),
            "; ".join(rng.sample(sources, rng.randint(1, 4))), "; ".join(related),
            rng.choice(statuses),
        ])  # fmt: skip
    _write(
        folder, "mitigations",
        ["id", "name", "definition", "additional_information", "reasoning", "classified_by",
         "taxonomy_code", "lifecycle_primary", "lifecycle_other", "actor_primary", "actor_other",
         "rmf_primary", "rmf_other", "source_ids", "related_ids", "status"],
        rows,
    )  # fmt: skip
    figures = []
    today = datetime.date(2026, 11, 29)
    for i, mid in enumerate(ids):
        n = rng.choice((4, 5, 6, 6, 7, 8))
        for j in range(n):
            area = RISK_AREAS[(i + j) % len(RISK_AREAS)]
            pct = j < n - 1
            embargo = ""
            if rng.random() < 0.12:  # future embargo, lifts over the next year
                embargo = (today + datetime.timedelta(days=rng.randint(30, 400))).isoformat()
            elif rng.random() < 0.1:  # an embargo that has lifted
                embargo = (today - datetime.timedelta(days=rng.randint(1, 400))).isoformat()
            figures.append([
                mid, f"fig_{j}",
                f"Experts rating it effective — {area}" if pct else "Studies reviewed",
                f"{rng.uniform(0, 100):.1f}" if pct else str(rng.randint(1, 40)),
                "%" if pct else "studies", area if pct else "", rng.randint(20, 400) if pct else "",
                "true" if rng.random() < 0.35 else "false", embargo,
                text.sentence(5, 12) if j == 0 else "",
            ])  # fmt: skip
    _write(
        folder, "figures",
        ["mitigation_id", "key", "label", "value", "unit", "risk_area", "sample_size",
         "preliminary", "embargo_until", "note"],
        figures,
    )  # fmt: skip
    return {"mitigations": len(rows), "figures": len(figures), "sources": len(sources)}


# --- Database ------------------------------------------------------------------------------


def ensure_database(url: str, reset: bool):
    """Create (or with reset: drop and create) the database named in the URL."""
    import environ
    import psycopg
    from psycopg import sql

    cfg = environ.Env.db_url_config(url)
    if "postgresql" not in cfg["ENGINE"]:
        raise SystemExit("seed_scale.py needs a PostgreSQL DATABASE_URL")
    params = {
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
    }
    name = cfg["NAME"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reset:
            print(f"dropping database {name}")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            print(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str):
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"  # DEBUG=True would record every query in memory
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("TASKS_BACKEND", "dummy")
    os.environ.pop("REDIS_URL", None)  # the importer's cache bump must not touch a shared Redis
    import django

    django.setup()


def seed_catalogue(count: int):
    from mitigations.importer import import_dataset
    from mitigations.models import Mitigation

    have = Mitigation.objects.count()
    if have >= count:
        print(f"catalogue: {have} mitigations, nothing to do")
        return
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        started = time.perf_counter()
        sizes = generate_catalogue(Path(tmp), count)
        print(
            f"catalogue: generated {sizes['mitigations']} mitigations, {sizes['figures']} figures "
            f"in {time.perf_counter() - started:.1f} s; importing ..."
        )
        started = time.perf_counter()
        report = import_dataset(tmp)
        print(f"catalogue: imported in {time.perf_counter() - started:.1f} s")
        for line in report.lines():
            print("   ", line)


def seed_accounts(password: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from portal.lib import access

    User = get_user_model()
    for username, role in LOGIN_ACCOUNTS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.org"}
        )
        if created or not user.check_password(password):
            user.set_password(password)
        user.is_staff = role in access.STAFF_ROLES
        user.is_active = True
        user.save()
        user.groups.set([Group.objects.get(name=access.group_name(role))])
        # The second factor: drive.py computes real codes from this device's secret.
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    reviewers = Group.objects.get(name=access.group_name(access.REVIEWER))
    for i in range(100):
        user, created = User.objects.get_or_create(
            username=f"seed-user-{i:03d}", defaults={"email": f"seed-user-{i:03d}@example.org"}
        )
        if created:
            user.set_unusable_password()
            user.save()
            if i < 40:
                user.groups.add(reviewers)
    print("accounts: bench-reviewer, bench-editor and 100 feedback authors")


FEEDBACK_COLUMNS = [
    "mitigation_id", "page_version", "section", "kind", "comment", "proposed_category_id",
    "user_id", "by_reviewer", "name", "email", "contact_consent", "ip_hash", "submission_id",
    "token", "status", "resolution", "public_reply", "moderated_by_id", "moderated_at",
    "created_at", "updated_at",
]  # fmt: skip


def _token(nbytes):
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode()


def feedback_rows(n: int, seed: int):
    """A generator of `n` feedback rows (tuples in FEEDBACK_COLUMNS order).

    Everything it needs from the database is read here, before the generator is returned:
    the rows are consumed while the connection is busy with the COPY.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    from mitigations.models import TaxonomyCategory
    from portal.lib import access

    rng = random.Random(seed)
    text = Text(rng)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, max(history_id) FROM mitigations_historicalmitigation "
            "GROUP BY id ORDER BY id"
        )
        pages = cursor.fetchall()
    rng.shuffle(pages)  # popularity is independent of the id
    page_weights, acc = [], 0.0
    for rank in range(1, len(pages) + 1):
        acc += 1 / rank**0.8
        page_weights.append(acc)
    categories = list(TaxonomyCategory.objects.values_list("pk", flat=True))
    User = get_user_model()
    reviewer_ids = list(
        User.objects.filter(username__startswith="seed-user-", groups__name="Reviewers")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    plain_ids = list(
        User.objects.filter(username__startswith="seed-user-")
        .exclude(pk__in=reviewer_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    editor_id = User.objects.get(username="bench-editor").pk
    assert access.group_name(access.REVIEWER) == "Reviewers"
    fragments = [text.sentence(4, 18) for _ in range(30_000)]
    ip_pool = [os.urandom(32).hex() for _ in range(80_000)]
    now = datetime.datetime.now(datetime.UTC)
    span = datetime.timedelta(days=3 * 365).total_seconds()
    return _generate_feedback(
        n, rng, text, pages, page_weights, categories, reviewer_ids, plain_ids, editor_id,
        fragments, ip_pool, now, span,
    )  # fmt: skip


def _generate_feedback(
    n, rng, text, pages, page_weights, categories, reviewer_ids, plain_ids, editor_id,
    fragments, ip_pool, now, span,
):  # fmt: skip
    sections = ["definition", "additional_information", "reasoning", "figures", "related",
                "sources", "other"]  # fmt: skip
    section_w = [30, 12, 14, 10, 6, 10, 18]
    kinds = ["error", "source", "classification", "suggestion", "other"]
    kind_w = [25, 15, 15, 30, 15]
    page_index = range(len(pages))
    for _ in range(n):
        age = (1 - rng.random() ** 0.5) * span  # volume grows over time
        created = now - datetime.timedelta(seconds=age)
        recent = age < 30 * 86400
        general = rng.random() < 0.1
        mitigation_id = page_version = None
        if not general:
            mitigation_id, page_version = pages[
                rng.choices(page_index, cum_weights=page_weights)[0]
            ]
            if rng.random() < 0.05:
                page_version = None
        kind = rng.choices(kinds, kind_w)[0]
        section = rng.choices(sections, section_w)[0] if not general else "other"
        who = rng.random()
        user_id, by_reviewer, name, email, consent = None, False, "", "", False
        if who < 0.05 and reviewer_ids:
            user_id, by_reviewer = rng.choice(reviewer_ids), True
            consent = rng.random() < 0.5
        elif who < 0.08 and plain_ids:
            user_id = rng.choice(plain_ids)
            consent = rng.random() < 0.3
        else:
            if rng.random() < 0.3:
                name = f"{rng.choice(GIVEN)} {rng.choice(SURNAMES)}"
            if rng.random() < 0.2:
                email = f"{rng.choice(GIVEN).lower()}.{rng.randint(1, 99999)}@example.net"
                consent = True
        comment = " ".join(rng.sample(fragments, rng.choice((1, 1, 2, 2, 3, 4))))
        if rng.random() < 0.05:
            comment += f" See https://example.com/{rng.randint(1, 10**6)}"
        if rng.random() < 0.3:
            comment += " " + rng.choice(RARE)
        status = resolution = None
        if (recent and rng.random() < 0.6) or rng.random() < 0.01:
            status = "pending"
        else:
            status = rng.choices(["approved", "rejected", "spam"], [35, 20, 45])[0]
        if status == "approved":
            resolution = rng.choices(["addressed", "declined", "open"], [40, 10, 50])[0]
        elif status == "rejected":
            resolution = rng.choices(["declined", "open"], [30, 70])[0]
        else:
            resolution = "open"
        moderated_by = moderated_at = None
        if status != "pending":
            moderated_by = editor_id
            moderated_at = min(now, created + datetime.timedelta(seconds=rng.randint(600, 864000)))
        reply = text.sentence(6, 20) if resolution != "open" and rng.random() < 0.7 else ""
        proposed = (
            rng.choice(categories) if kind == "classification" and rng.random() < 0.5 else None
        )
        yield (
            mitigation_id, page_version, section, kind, comment, proposed, user_id, by_reviewer,
            name, email, consent, rng.choice(ip_pool), _token(24), _token(32), status,
            resolution, reply, moderated_by, moderated_at, created, moderated_at or created,
        )  # fmt: skip


def seed_feedback(target: int):
    from django.db import connection, transaction

    from feedback.models import Feedback

    have = Feedback.objects.count()
    missing = target - have
    if missing <= 0:
        print(f"feedback: {have} rows, nothing to do")
        return
    print(f"feedback: {have} rows, adding {missing} with COPY ...")
    started = time.perf_counter()
    table = Feedback._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        # FKs point at rows generated from the same database; skip the per-row RI triggers.
        cursor.execute("SET LOCAL session_replication_role = replica")
        rebuild = []
        if missing > 50_000:  # building the indexes once is much faster than maintaining them
            cursor.execute(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.schemaname = current_schema() AND i.tablename = %s
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
                """,
                [table],
            )
            rebuild = cursor.fetchall()
            for name, _ in rebuild:
                cursor.execute(f'DROP INDEX "{name}"')
        raw = cursor.cursor
        columns = ", ".join(FEEDBACK_COLUMNS)
        done = 0
        rows = feedback_rows(missing, seed=have + 1)  # reads what it needs before the COPY
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                done += 1
                if done % 200_000 == 0:
                    print(f"    {done} rows ({time.perf_counter() - started:.0f} s)")
        print(
            f"    copied in {time.perf_counter() - started:.1f} s; "
            f"rebuilding {len(rebuild)} indexes"
        )
        for name, definition in rebuild:
            step = time.perf_counter()
            cursor.execute(definition)
            print(f"    {name}: {time.perf_counter() - step:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"feedback: {Feedback.objects.count()} rows in {time.perf_counter() - started:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--mitigations", type=int, default=10_000)
    parser.add_argument("--feedback", type=int, default=1_000_000)
    parser.add_argument("--reset", action="store_true", help="drop the database and seed again")
    args = parser.parse_args()
    started = time.perf_counter()
    ensure_database(args.database_url, args.reset)
    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    seed_catalogue(args.mitigations)
    seed_accounts(os.environ.get("BENCH_PASSWORD") or DEFAULT_PASSWORD)
    seed_feedback(args.feedback)
    with connection.cursor() as cursor:
        # What autovacuum would soon do: statistics and the visibility map (index-only scans).
        cursor.execute("VACUUM (ANALYZE)")
    print(f"seeded {connection.settings_dict['NAME']} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
