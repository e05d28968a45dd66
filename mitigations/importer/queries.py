"""Statement sizes, and lookups of any number of values run in chunks."""

from collections.abc import Iterable, Iterator

BATCH_SIZE = 500  # rows per INSERT/UPDATE statement
CHUNK_SIZE = 1000  # values per `__in` lookup


def chunks(values: Iterable, size: int = CHUNK_SIZE) -> Iterator[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def filter_in(queryset, lookup: str, values: Iterable) -> Iterator:
    """`queryset.filter(lookup__in=values)`, run in chunks so any number of values works."""
    for chunk in chunks(values):
        yield from queryset.filter(**{f"{lookup}__in": chunk})
