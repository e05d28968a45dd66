"""Benchmark the importer: 10,000 mitigations (+ ~6 figures each, related links, sources).

    .venv/bin/python bench/import_10k.py                      # SQLite (a temporary file)
    .venv/bin/python bench/import_10k.py --database-url postgres://postgres@127.0.0.1:5432/portal_imp

Generates the dataset in the import format in a temporary folder, creates a fresh database
(Django's test-database machinery: `test_…`/`bench_…`, migrated, dropped at the end), imports
the dataset, re-imports it (must report 0 created / 0 updated) and prints the seconds of each.
"""

import argparse
import csv
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = """
    model risk audit access data training evaluation deployment incident security policy
    oversight review testing monitoring disclosure governance weights safety expert capability
    misuse threat control response reporting developer deployer external
""".split()  # noqa: SIM905
LIFECYCLE = ["Plan and Design", "Collect and Process Data", "Build and Use Model",
             "Verify and Validate", "Deploy and Use", "Operate and Monitor"]  # fmt: skip
ACTORS = ["Developer", "Deployer", "User", "Government", "Third-party auditor",
          "External researcher", "Compute provider"]  # fmt: skip
RMF = ["Govern", "Map", "Measure", "Manage", "Unable to classify"]
RISK_AREAS = ["CBRN", "Critical infrastructure", "Democratic processes", "Discrimination and bias"]
STATUSES = ["published", "polishing", "polishing", "draft"]


def sentence(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def write(folder, table, columns, rows):
    with open(folder / f"{table}.csv", "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def generate(folder: Path, count: int, figures_each: int, seed: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    codes = []
    taxonomy = []
    for a in range(1, 4):
        taxonomy.append([str(a), f"Area {a}", sentence(rng, 8)])
        for b in range(1, 6):
            taxonomy.append([f"{a}.{b}", f"Group {a}.{b}", sentence(rng, 8)])
            for c in range(1, 6):
                code = f"{a}.{b}.{c}"
                codes.append(code)
                taxonomy.append([code, f"Category {code}", sentence(rng, 10)])
    write(folder, "taxonomy", ["code", "name", "description"], taxonomy)
    facets = (("lifecycle_stages", LIFECYCLE), ("actors", ACTORS), ("rmf_functions", RMF))
    for table, names in facets:
        rows = [[name, sentence(rng, 8), i] for i, name in enumerate(names, 1)]
        write(folder, table, ["name", "description", "position"], rows)
    sources = [f"src{i:03d}" for i in range(200)]
    write(
        folder, "sources", ["id", "title", "authors", "year", "url", "doi", "abstract"],
        [[key, sentence(rng, 7), "Doe, Jane; Roe, Richard", 2015 + i % 10,
          f"https://example.org/{key}", f"10.1000/{key}", sentence(rng, 60)]
         for i, key in enumerate(sources)],
    )  # fmt: skip
    ids = [f"M{i:05d}" for i in range(count)]
    mitigations = []
    for i, mid in enumerate(ids):
        related = sorted({ids[(i + d) % count] for d in (1, 7, -3)})  # forward and backward
        mitigations.append([
            mid, f"{sentence(rng, 5)[:-1]} {i}", sentence(rng, 25), sentence(rng, 120),
            sentence(rng, 20), "human" if i % 9 == 0 else "classifier", rng.choice(codes),
            rng.choice(LIFECYCLE), "; ".join(rng.sample(LIFECYCLE, 2)),
            rng.choice(ACTORS), "; ".join(rng.sample(ACTORS, 1)),
            rng.choice(RMF[:4]), "; ".join(rng.sample(RMF[:4], 1)),
            "; ".join(rng.sample(sources, 2)), "; ".join(related), STATUSES[i % 4],
        ])  # fmt: skip
    write(
        folder, "mitigations",
        ["id", "name", "definition", "additional_information", "reasoning", "classified_by",
         "taxonomy_code", "lifecycle_primary", "lifecycle_other", "actor_primary", "actor_other",
         "rmf_primary", "rmf_other", "source_ids", "related_ids", "status"],
        mitigations,
    )  # fmt: skip
    figures = []
    for i, mid in enumerate(ids):
        for j in range(figures_each):
            area = RISK_AREAS[j % 4]
            figures.append([
                mid, f"fig_{j}", f"Experts rating it effective — {area} ({j})",
                f"{rng.uniform(0, 100):.1f}", "%", area, 76, "true" if i % 3 else "false",
                "2027-06-30" if i % 5 == 0 else "", "Illustrative." if j == 0 else "",
            ])  # fmt: skip
    write(
        folder, "figures",
        ["mitigation_id", "key", "label", "value", "unit", "risk_area", "sample_size",
         "preliminary", "embargo_until", "note"],
        figures,
    )  # fmt: skip
    return {"mitigations": len(mitigations), "figures": len(figures), "sources": len(sources)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--mitigations", type=int, default=10_000)
    parser.add_argument("--figures-each", type=int, default=6)
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DEBUG"] = "false"  # DEBUG=True would record every query in memory
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.db import connection

    from mitigations.importer import import_dataset
    from mitigations.models import Figure, Mitigation

    data = workdir / "dataset"
    data.mkdir()
    started = time.perf_counter()
    sizes = generate(data, args.mitigations, args.figures_each)
    size_mb = sum(p.stat().st_size for p in data.iterdir()) / 2**20
    print(
        f"generated {sizes['mitigations']} mitigations, {sizes['figures']} figures, "
        f"{sizes['sources']} sources ({size_mb:.1f} MB) in {time.perf_counter() - started:.1f} s"
    )

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        settings["TEST"]["NAME"] = str(workdir / "bench-test.sqlite3")
    else:
        settings["TEST"]["NAME"] = f"bench_{settings['NAME']}"
    old_name = settings["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
        progress = True if args.progress else None
        for label in ("first import", "re-import"):
            started, cpu = time.perf_counter(), time.process_time()
            report = import_dataset(data, progress=progress)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            counts = report.counts
            print(
                f"{label:<13} {seconds:6.2f} s (CPU of this process {cpu:5.2f} s)  "
                f"mitigations +{counts['mitigations'].created} "
                f"~{counts['mitigations'].updated} ={counts['mitigations'].unchanged}  "
                f"figures +{counts['figures'].created} ~{counts['figures'].updated} "
                f"={counts['figures'].unchanged}  (changed rows: {report.changed})"
            )
        assert report.changed == 0, "the re-import changed rows"
        assert Mitigation.objects.count() == sizes["mitigations"]
        assert Figure.objects.count() == sizes["figures"]
        assert Mitigation.history.count() == sizes["mitigations"]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
