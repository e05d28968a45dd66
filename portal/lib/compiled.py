"""Querysets compiled to SQL once per process, run with a new value each time.

The ORM builds and compiles a queryset's SQL on every evaluation: for the one-row lookups of
a page (the page by its slug, its figures) that cost twice the query itself (~0.3 ms of CPU
each, bench/profile_page.py). A `Compiled` statement is the SQL of a queryset built once per
database and variant with a placeholder value; each call runs it with the real value and
makes the model instances as the ORM does (`Model.from_db`, the backend's converters).

Only for querysets of one model's own columns (no select_related, no annotations): the
rows are that model's fields, in the compiler's order.
"""

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.expressions import Col

_PLACEHOLDER = -7_654_321  # never an id; compiled as it is or as its text


class Compiled:
    """`Compiled(build)`, then `statement(value, variant)` -> list of model instances.

    `build(placeholder, variant)` returns the queryset with `placeholder` where the value
    goes (exactly once); `variant` is whatever else the queryset depends on (hashable, e.g.
    whether the viewer sees drafts)."""

    def __init__(self, build):
        self._build = build
        self._compiled = {}

    def _compile(self, alias, variant):
        queryset = self._build(_PLACEHOLDER, variant)
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        columns = [expression for expression, _sql, _alias in compiler.select]
        if not all(isinstance(c, Col) and c.target.model is queryset.model for c in columns):
            raise ValueError("Compiled: only a model's own columns")
        at = [i for i, p in enumerate(params) if p in (_PLACEHOLDER, str(_PLACEHOLDER))]
        if len(at) != 1:
            raise ValueError("Compiled: the value must appear exactly once")
        converters = compiler.get_converters(columns)
        names = [c.target.attname for c in columns]
        return queryset.model, compiler, sql, list(params), at[0], names, converters

    def __call__(self, value, variant=None, using=DEFAULT_DB_ALIAS) -> list:
        key = (using, variant)
        if key not in self._compiled:
            self._compiled[key] = self._compile(using, variant)
        model, compiler, sql, params, at, names, converters = self._compiled[key]
        params = list(params)
        params[at] = value
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters:
            rows = compiler.apply_converters(rows, converters)
        return [model.from_db(using, names, row) for row in rows]
