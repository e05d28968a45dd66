"""Backup and restore, as docs/operations.md describes them.

The database backup is `pg_dump -Fc`; a restore is `pg_restore` into a new database. This
test dumps the test database holding the demo catalogue, feedback and its history, restores
it into a fresh database and compares every table row for row, then lets the app read the
restored database (`migrate --check`, `export_mitigations`) and compares the catalogue with
the original's.

The other backup, the catalogue in the import format (`export_mitigations` ->
`import_mitigations` into an empty database gives the same catalogue, byte for byte), is
tested in tests/mitigations/test_export.py::test_export_import_export_round_trip_is_byte_identical.
"""

import io
import os
import secrets
import subprocess
import sys
import warnings

import pytest
from django.conf import settings
from django.core.management import call_command

from feedback import services
from feedback.models import Feedback
from mitigations.importer import import_dataset
from mitigations.models import Figure, Mitigation
from tests.factories import FeedbackFactory, UserFactory
from tests.reliability.conftest import needs_postgres, pg_connect
from tests.reliability.servers import ROOT, database_url, production_env, random_secret

pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]

DEMO = ROOT / "data" / "demo"


def _pg():
    db = settings.DATABASES["default"]
    args = ["-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432)]
    if db.get("USER"):
        args += ["-U", db["USER"]]
    env = {**os.environ, **({"PGPASSWORD": db["PASSWORD"]} if db.get("PASSWORD") else {})}
    return db, args, env


def table_fingerprints(dbname: str) -> dict[str, tuple[int, str]]:
    """table -> (rows, md5 of all rows as text, sorted); also sequences and triggers."""
    from psycopg import sql

    with pg_connect(dbname) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        result = {}
        for table in tables:
            # Every row as text, sorted: the same digest means the same contents.
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                " FROM {} t"
            ).format(sql.Identifier(table))
            result[table] = conn.execute(query).fetchone()
        result["(sequences)"] = (
            0,
            str(
                conn.execute(
                    "SELECT array_agg(sequencename || '=' || coalesce(last_value, 0) "
                    "ORDER BY sequencename) FROM pg_sequences WHERE schemaname = 'public'"
                ).fetchone()[0]
            ),
        )
        result["(triggers)"] = (
            0,
            str(
                conn.execute(
                    "SELECT array_agg(tgname ORDER BY tgname) FROM pg_trigger "
                    "WHERE NOT tgisinternal"
                ).fetchone()[0]
            ),
        )
    return result


@pytest.fixture
def scratch_database():
    """A new, empty database with a unique name, dropped afterwards."""
    name = f"portal_restore_{secrets.token_hex(4)}"
    with pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    try:
        with pg_connect() as conn:
            # DROP waits for every session of the server to acknowledge it (PostgreSQL 15);
            # do not hang the test run if another client is stuck in a long COPY.
            conn.execute("SET statement_timeout = '60s'")
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        warnings.warn(f"could not drop {name}: {exc}; drop it by hand", stacklevel=1)


def test_pg_dump_restores_into_a_fresh_database_with_identical_contents(
    roles, tmp_path, scratch_database
):
    import_dataset(DEMO)
    editor = UserFactory(username="backup-editor", role="editor")
    page = Mitigation.objects.order_by("code").first()
    items = [
        FeedbackFactory(mitigation=page, comment=f"Ünïcode, <b>markup</b> and 'quotes' #{n}")
        for n in range(5)
    ]
    services.moderate(items[:2], editor, status=Feedback.Status.APPROVED)
    assert Mitigation.objects.exists() and Figure.objects.exists()
    assert Feedback.history.filter(history_type="~").count() == 2

    db, args, env = _pg()
    dump = tmp_path / "portal.dump"
    subprocess.run(
        ["pg_dump", "-Fc", "--no-owner", *args, "-f", str(dump), db["NAME"]],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", *args, "-d", scratch_database, str(dump)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    original, restored = table_fingerprints(db["NAME"]), table_fingerprints(scratch_database)
    assert original.keys() == restored.keys()
    for table in ("mitigations_mitigation", "mitigations_figure", "feedback_feedback"):
        assert original[table][0] > 0, table
    different = {t for t in original if original[t] != restored[t]}
    assert different == set()

    # The app runs on the restored database: no migration missing, the same catalogue.
    restored_env = production_env(
        database_url=database_url({**db, "NAME": scratch_database}), secret_key=random_secret()
    )
    script = (
        "from django.core.management import call_command as c; "
        "c('migrate', check_unapplied=True); "  # exits 1 if a migration is missing
        f"c('export_mitigations', {str(tmp_path / 'restored.json')!r})"
    )
    check = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=restored_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    call_command("export_mitigations", str(tmp_path / "original.json"), stdout=io.StringIO())
    assert (tmp_path / "restored.json").read_bytes() == (tmp_path / "original.json").read_bytes()
