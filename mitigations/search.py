"""Full-text search: PostgreSQL ranked search on a GIN-indexed vector; SQLite fallback."""

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, Value, When

SEARCH_CONFIG = "english"
MAX_QUERY_LENGTH = 200


def clean_query(text: str) -> str:
    text = (text or "").replace("\x00", " ")
    return " ".join(text.split())[:MAX_QUERY_LENGTH]


def search_mitigations(queryset, text):
    """Filter to matches and order by relevance (name matches first)."""
    text = clean_query(text)
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
        return (
            queryset.filter(search_vector=query)
            .annotate(rank=SearchRank(F("search_vector"), query, weights=[0.1, 0.2, 0.4, 1.0]))
            .order_by("-rank", "name")
        )
    # SQLite: every word must appear somewhere; name hits rank first.
    words = text.split()[:10]
    match = Q()
    for word in words:
        match &= (
            Q(name__icontains=word)
            | Q(definition__icontains=word)
            | Q(additional_information__icontains=word)
            | Q(reasoning__icontains=word)
        )
    name_hit = Q()
    for word in words:
        name_hit |= Q(name__icontains=word)
    return (
        queryset.filter(match)
        .annotate(
            rank=Case(When(name_hit, then=Value(1)), default=Value(0), output_field=IntegerField())
        )
        .order_by("-rank", "name")
    )
