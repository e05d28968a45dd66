"""mitigations/fragments.py renders what the templates it replaced rendered, byte for byte.

The templates are kept in tests/mitigations/data/templates/ as the reference."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import engines
from django.test import override_settings
from django.utils.safestring import mark_safe

from mitigations import fragments
from mitigations.charts import figure_chart
from tests.factories import (
    ActorFactory,
    CategoryFactory,
    FigureFactory,
    LifecycleStageFactory,
    MitigationFactory,
    RmfFunctionFactory,
    SourceFactory,
)

REFERENCE = Path(__file__).parent / "data" / "templates"
NASTY = '<b>Tom & Jerry\'s "quoted"</b> {{ x }} %'


def reference(name, context):
    template = engines["django"].from_string((REFERENCE / name).read_text())
    return template.render(context)


@pytest.fixture
def cards(db):
    category = CategoryFactory(code="1.2", name=NASTY)
    made = [
        MitigationFactory(code="C1", name=NASTY, definition=NASTY, category=category),
        MitigationFactory(code="C2", status="published", category=category),
        MitigationFactory(code="C3", status="draft", category=category),
    ]
    made[0].restricted_summary = {
        "preliminary": 2,
        "embargoed": 3,
        "first_lift": datetime.date(2027, 1, 5),
        "last_lift": datetime.date(2027, 6, 30),
    }
    made[1].restricted_summary = {"preliminary": 1, "embargoed": 0}
    made[0].snippet = mark_safe("around the <mark>word</mark> & more")  # search.add_snippets
    made[1].snippet = NASTY
    return made  # the third has no summary at all (the home page's cards)


def test_cards_are_the_templates(cards):
    assert fragments.cards(cards) == reference("mitigation_cards.html", {"cards": cards})
    assert fragments.cards([]) == reference("mitigation_cards.html", {"cards": []})


@pytest.fixture
def figures(db):
    page = MitigationFactory(code="F1")
    soon = datetime.date.today() + datetime.timedelta(days=30)
    return [
        FigureFactory(mitigation=page, key="a", label=NASTY, note=NASTY, risk_area=NASTY),
        FigureFactory(mitigation=page, key="b", preliminary=True, value=Decimal("12.3456")),
        FigureFactory(mitigation=page, key="c", embargo_until=soon, value=Decimal("100")),
        FigureFactory(mitigation=page, key="d", preliminary=True, embargo_until=soon),
        FigureFactory(mitigation=page, key="e", unit="people", sample_size=None, risk_area=""),
        FigureFactory(mitigation=page, key="f", unit="", value=Decimal("1234567.5")),
        FigureFactory(mitigation=page, key="g", label="x" * 40, risk_area="", value=Decimal(0)),
    ]


STAMP = {"text": "Seen by <rita> on 2 Dec 2026", "mark": "0123456789abcdef"}


@pytest.mark.parametrize("stamp", [None, STAMP])
@pytest.mark.parametrize("which", ["all", "public", "no_percent", "first_without_sample"])
def test_figures_are_the_templates(figures, stamp, which):
    shown = {
        "all": figures,
        "public": [f for f in figures if not f.is_restricted],
        "no_percent": [f for f in figures if f.unit != "%"],
        "first_without_sample": figures[4:],
    }[which]
    chart = figure_chart(shown, stamp=stamp)
    context = {"figures": shown, "stamp": stamp, "chart": chart}
    assert fragments.figures(shown, stamp, chart) == reference("figures.html", context)


@override_settings(USE_THOUSAND_SEPARATOR=True)
def test_numbers_follow_the_thousand_separator(figures):
    chart = figure_chart(figures)
    context = {"figures": figures, "stamp": None, "chart": chart}
    assert fragments.figures(figures, None, chart) == reference("figures.html", context)


def test_sources_are_the_template(db):
    documents = [
        SourceFactory(key="s1", title=NASTY, authors=[NASTY, "Roe, R."], abstract=NASTY,
                      url="https://example.org/?a=1&b=<2>", doi="10.1/x<y>&z"),
        SourceFactory(key="s2", abstract="", url="", doi="", year=1999),
        SourceFactory(key="s3", authors=[], url="https://example.org/", doi=""),
    ]  # fmt: skip
    for shown in (documents, []):  # as detail.html places them: "    {% source_list s %}\n"
        made = f"    {fragments.sources(shown)}\n"
        assert made == reference("sources.html", {"sources": shown})


def test_facet_rows_are_the_template(db):
    stage = LifecycleStageFactory(name=NASTY, description=NASTY)
    actors = [ActorFactory(name=f"Actor {NASTY}", description=NASTY), ActorFactory(name="B")]
    rmf = RmfFunctionFactory(description="")
    facets = [
        ("Lifecycle <stage>", stage, []),
        ("Actor", None, actors),
        ("AI RMF function", rmf, actors[:1]),
        ("Nothing", None, []),
    ]
    made = f"    {fragments.facet_rows(facets)}\n"  # as detail.html places them
    assert made == reference("facets.html", {"facets": facets})
