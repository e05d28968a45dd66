"""The layout's rules (docs/architecture.md), checked on the code's own imports.

- the ground floor (portal.lib) imports no app and no wiring; apps never import the wiring;
  the apps form layers (accounts -> feedback -> mitigations -> portal.lib): the contracts
  in pyproject.toml, run by import-linter;
- no import cycle between modules (any strongly connected group of two or more).
"""

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from django.conf import settings

PACKAGES = ("portal", "mitigations", "feedback")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_import_contracts_are_kept():
    run = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _cycles(graph):
    """Strongly connected components (Tarjan) of the module graph with more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.find_modules_directly_imported_by(node):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles(graph):
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    fake = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        fake.add_module(module)
    fake.add_import(importer="a.x", imported="a.y")
    fake.add_import(importer="a.y", imported="a.x")
    fake.add_import(importer="a.y", imported="a.z")
    assert _cycles(fake) == [["a.x", "a.y"]]


def _read_variables(path):
    text = path.read_text()
    return set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', text)) | set(
        re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', text)
    )


def test_env_example_lists_every_variable_the_settings_and_gunicorn_read():
    base = settings.BASE_DIR
    read = _read_variables(base / "portal" / "settings.py") | _read_variables(
        base / "portal" / "gunicorn_conf.py"
    )
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", (base / ".env.example").read_text(), re.M))
    assert {"SECRET_KEY", "DATABASE_URL", "GUNICORN_WORKERS"} <= read
    assert read - listed == set()


def test_gunicorn_reads_dotenv_like_the_settings(tmp_path, monkeypatch):
    """GUNICORN_BIND and GUNICORN_WORKERS set only in .env reach gunicorn."""
    import runpy

    conf = settings.BASE_DIR / "portal" / "gunicorn_conf.py"
    (tmp_path / "portal").mkdir()
    (tmp_path / "portal" / "gunicorn_conf.py").write_text(conf.read_text())
    (tmp_path / ".env").write_text("GUNICORN_BIND=127.0.0.1:9123\nGUNICORN_WORKERS=7\n")
    monkeypatch.delenv("GUNICORN_BIND", raising=False)
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    values = runpy.run_path(str(tmp_path / "portal" / "gunicorn_conf.py"))
    assert values["bind"] == "127.0.0.1:9123"
    assert values["workers"] == 7
