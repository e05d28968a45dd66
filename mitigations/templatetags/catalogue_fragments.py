"""The catalogue's repeated fragments, rendered in Python (mitigations/fragments.py)."""

from django import template

from mitigations import fragments

register = template.Library()


@register.simple_tag
def mitigation_cards(mitigations):
    """One card per mitigation (as includes/mitigation_cards.html rendered them)."""
    return fragments.cards(mitigations)


@register.simple_tag(takes_context=True)
def figures_table(context):
    """The page's figures table and chart, from the context's `figures`, `stamp`, `chart`."""
    return fragments.figures(context["figures"], context.get("stamp"), context.get("chart"))


@register.simple_tag
def source_list(documents):
    """The detail page's source documents, one block each."""
    return fragments.sources(documents)


@register.simple_tag
def facet_rows(facets):
    """The detail page's classification: a <dt>/<dd> pair per facet."""
    return fragments.facet_rows(facets)
