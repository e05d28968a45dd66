"""Search that forgives: ids, taxonomy, prefixes, typos, snippets, empty states, exports."""

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mitigations.models import Mitigation
from tests.factories import CategoryFactory, FigureFactory, MitigationFactory

pytestmark = pytest.mark.django_db

LIST = "/mitigations/"


@pytest.fixture
def pages(db):
    audits = CategoryFactory(code="2.2.3", name="Auditing & Compliance")
    other = CategoryFactory(code="3.1.1", name="Legal & Regulatory")
    return {
        "audits": MitigationFactory(
            code="A1421",
            name="Third-party audits",
            definition="Independent audits of models before release.",
            additional_information="Experts said **audits** catch <b>gaps</b>.",
            category=audits,
        ),
        "incident": MitigationFactory(
            code="A1500",
            name="Incident reporting",
            definition="Share what went wrong with a regulator.",
            category=other,
        ),
        "draft": MitigationFactory(
            code="A1999",
            name="Zephyrquill sandboxing",
            definition="Zephyrquill keeps an incident contained.",
            status=Mitigation.Status.DRAFT,
            category=other,
        ),
    }


@pytest.mark.parametrize("text", ["A1421", "a1421", " A1421 "])
def test_an_id_goes_straight_to_its_page(reader_client, pages, text):
    response = reader_client.get(LIST, {"q": text})
    assert response.status_code == 302
    assert response["Location"] == pages["audits"].get_absolute_url()


def test_an_id_with_filters_lists_the_page_first(reader_client, pages):
    response = reader_client.get(LIST, {"q": "a1421", "sort": "relevance"})
    assert response.status_code == 200
    assert ">Third-party audits<" in response.text


def test_a_drafts_id_is_no_shortcut_for_readers(reader_client, editor_client, pages):
    response = reader_client.get(LIST, {"q": "A1999"})
    assert response.status_code == 200
    assert "Zephyrquill" not in response.text and pages["draft"].slug not in response.text
    assert editor_client.get(LIST, {"q": "A1999"}).status_code == 302


@pytest.mark.parametrize("text", ["2.2.3", "2.2", "Auditing & Compliance", "auditing"])
def test_taxonomy_codes_and_category_names_match(reader_client, pages, text):
    html = reader_client.get(LIST, {"q": text}).text
    assert ">Third-party audits<" in html and ">Incident reporting<" not in html


def test_a_word_prefix_matches(reader_client, pages):
    html = reader_client.get(LIST, {"q": "audi"}).text
    assert ">Third-party audits<" in html and ">Incident reporting<" not in html
    html = reader_client.get(LIST, {"q": "regul"}).text
    assert ">Incident reporting<" in html


def test_a_typo_gets_a_suggestion_from_visible_words(reader_client, pages):
    html = reader_client.get(LIST, {"q": "incidnet"}).text
    assert "Did you mean" in html and ">incident</a>" in html
    assert 'href="?q=incident"' in html
    html = reader_client.get(LIST, {"q": "incident"}).text
    assert ">Incident reporting<" in html


def test_suggestions_never_come_from_drafts(reader_client, editor_client, pages):
    html = reader_client.get(LIST, {"q": "zephyrquil"}).text
    assert "Zephyrquill" not in html and "zephyrquill" not in html
    assert "Did you mean" not in html
    html = editor_client.get(LIST, {"q": "zephyrquil"}).text
    # The editor's search finds it by prefix: no suggestion needed, but the page is listed.
    assert "Zephyrquill sandboxing" in html


def test_snippets_mark_the_matched_words_and_escape_the_text(reader_client, pages):
    html = reader_client.get(LIST, {"q": "gaps"}).text
    start = html.index('class="snippet')
    snippet = html[start : html.index("</p>", start)]
    assert "<mark>gaps</mark>" in snippet
    assert "<b>" not in snippet  # escaped (SQLite) or dropped as markup (ts_headline)
    assert "**" not in snippet


def test_snippets_never_show_figures(reviewer_client, pages):
    FigureFactory(mitigation=pages["audits"], label="Quillfigure audits rating", preliminary=True)
    html = reviewer_client.get(LIST, {"q": "audits"}).text
    snippet = html[html.index('class="snippet') :]
    assert "Quillfigure" not in snippet[: snippet.index("</p>")]


def test_title_and_empty_state(reader_client, pages):
    html = reader_client.get(LIST, {"q": "audit"}).text
    assert "<title>Results for ‘audit’" in html
    empty = reader_client.get(LIST, {"q": "nothingmatcheshere"}).text
    assert "No mitigations match" in empty
    assert reverse("mitigations:taxonomy") in empty
    assert f"{reverse('feedback:general')}?missing=nothingmatcheshere" in empty
    form = reader_client.get(reverse("feedback:general"), {"missing": "nothingmatcheshere"}).text
    assert "I searched for “nothingmatcheshere” and found nothing." in form


def test_links_carry_only_set_parameters(reader_client, pages):
    html = reader_client.get(
        LIST, {"q": "audit", "category": "", "lifecycle": "", "sort": "name", "status": ""}
    ).text
    assert "category=&amp;" not in html and "lifecycle=" not in html
    assert 'href="?sort=name"' in html  # the search chip removes q and keeps sort only
    assert "export.csv?q=audit&amp;sort=name" in html


@pytest.mark.parametrize(
    "text",
    [
        "x" * 2000,
        "audit\x00s",
        "!!! ??? ... ---",
        "&|!():*<>",
        "' OR 1=1; --",
        "audit & ! | :* ( ) <-> 'x'",
        '"unterminated',
        "\ue000\ue001",
        "1.2.3.4.5",
        "A" + "9" * 30,
        "the of and",  # stop words only
        "o'brien \\ audi",
    ],
)
def test_hostile_search_input_gives_a_normal_page(reader_client, pages, text):
    response = reader_client.get(LIST, {"q": text})
    assert response.status_code in (200, 400)  # NUL bytes are refused by the request check
    response = reader_client.get(reverse("mitigations:export", args=["csv"]), {"q": text})
    assert response.status_code in (200, 400)


def rows_of(response):
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_downloads_export_the_current_results(reader_client, pages):
    url = reverse("mitigations:export", args=["csv"])
    rows = rows_of(reader_client.get(url, {"q": "audit"}))
    assert {r["id"] for r in rows} == {"A1421"}
    rows = rows_of(reader_client.get(url, {"category": "3.1.1"}))
    assert {r["id"] for r in rows} == {"A1500"}  # never the draft
    data = json.loads(
        reader_client.get(reverse("mitigations:export", args=["json"]), {"q": "incident"}).content
    )
    assert {r["id"] for r in data["mitigations"]} == {"A1500"}
    everything = rows_of(reader_client.get(url))
    assert {r["id"] for r in everything} == {"A1421", "A1500"}


def test_empty_taxonomy_nodes_are_quieter(reader_client, pages):
    CategoryFactory(code="4.1.1", name="Nothing here")
    html = reader_client.get(reverse("mitigations:taxonomy")).text
    before = html[: html.index("Nothing here")]
    assert before.rindex("<li") == before.rindex('<li class="tree-empty"')


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL")
def test_suggestions_use_trigram_similarity_on_postgresql(reader_client, pages):
    html = reader_client.get(LIST, {"q": "regulatr"}).text
    assert ">regulator</a>" in html


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL")
def test_python_trigram_similarity_is_pg_trgms(db):
    from mitigations.search import Vocabulary, _trigrams

    pairs = [("regulatr", "regulator"), ("incidnet", "incident"), ("modle", "model"), ("ab", "abc")]
    with connection.cursor() as cursor:
        for a, b in pairs:
            cursor.execute("SELECT similarity(%s, %s)", [a, b])
            expected = cursor.fetchone()[0]
            ga, gb = _trigrams(a), _trigrams(b)
            assert abs(len(ga & gb) / len(ga | gb) - expected) < 1e-6
        words = ["model", "modal", "mode", "models", "evaluation", "evacuation"]
        for typo in ("modle", "evaluatoin", "modals"):
            cursor.execute(
                "SELECT w FROM unnest(%s::text[]) AS w WHERE similarity(w, %s) >= 0.3 "
                "ORDER BY similarity(w, %s) DESC, w LIMIT 1",
                [words, typo, typo],
            )
            assert Vocabulary(words).closest(typo) == cursor.fetchone()[0]


def test_many_matches_are_listed_by_name(reader_client, pages, monkeypatch):
    from mitigations import search

    MitigationFactory(code="A1600", name="Log keeping", definition="Keep audit logs.")
    html = reader_client.get(LIST, {"q": "audit"}).text
    assert "listed by name" not in html
    assert html.index(">Third-party audits<") < html.index(">Log keeping<")  # name hits first
    monkeypatch.setattr(search, "RANKED_MATCHES", 1)
    html = reader_client.get(LIST, {"q": "Audit"}).text  # (not the cached page of "audit")
    assert "many matches, listed by name" in html
    assert html.index(">Log keeping<") < html.index(">Third-party audits<")


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="lexeme counts are PostgreSQL's")
def test_a_search_finding_few_pages_is_one_query(reader_client, pages):
    reader_client.get(LIST, {"q": "audits gaps"})  # the process learns the words' lexemes
    with CaptureQueriesContext(connection) as queries:
        html = reader_client.get(LIST, {"q": "gaps audits"}).text  # (not a cached page)
    assert ">Third-party audits<" in html and "<mark>gaps</mark>" in html
    catalogue = [q["sql"] for q in queries.captured_queries if "mitigations_mitigation" in q["sql"]]
    assert len(catalogue) == 1 and "COUNT(*) OVER ()" in catalogue[0]
