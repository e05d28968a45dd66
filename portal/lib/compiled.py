"""Querysets compiled to SQL once per process, run with a new value each time.

The ORM builds and compiles a queryset's SQL on every evaluation: for the small lookups of
a page (the page by its slug, its figures, its reviewers' thread) that cost more than the
query itself (~0.3 ms of CPU each, bench/profile_page.py). A `Compiled` statement is the
SQL of a queryset built once per database and variant with a placeholder value; each call
runs it with the real value and makes the model instances as the ORM does
(`Model.from_db`, the backend's converters, `select_related` objects cached on the row's).

For querysets of a model's own columns, their annotations and forward `select_related` one
level deep (no prefetching).
"""

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.expressions import Col

_PLACEHOLDER = -7_654_321  # never an id; compiled as it is or as its text


def _part(columns, info):
    """(model, first column, end, attnames) of one model's columns in a row."""
    fields = info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    if fields != list(range(start, end)) or not all(
        isinstance(c, Col) and c.target.model is info["model"] for c in columns[start:end]
    ):
        raise ValueError("Compiled: only a model's own columns (and select_related)")
    return info["model"], start, end, [c.target.attname for c in columns[start:end]]


class Compiled:
    """`Compiled(build)`, then `statement(value, arg)` -> list of model instances.

    `build(placeholder, arg)` returns the queryset with `placeholder` where the value goes
    (exactly once). The SQL is kept per database and `key` (by default `arg`): `key` says
    everything the queryset depends on besides the value (e.g. whether the viewer sees
    drafts), when `arg` is more than that (e.g. the viewer, for the policy's functions)."""

    def __init__(self, build):
        self._build = build
        self._compiled = {}

    def _compile(self, alias, arg):
        queryset = self._build(_PLACEHOLDER, arg)
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        columns = [expression for expression, _sql, _alias in compiler.select]
        info = compiler.klass_info
        own = _part(columns, info)
        related = []
        for sub in info.get("related_klass_infos", []):
            if sub["reverse"] or sub.get("related_klass_infos") or sub["from_parent"]:
                raise ValueError("Compiled: select_related of forward relations, one level")
            related.append((sub["field"], *_part(columns, sub)))
        annotations = dict(compiler.annotation_col_map or {})
        taken = own[2] - own[1] + len(annotations)
        if own[1] != 0 or taken + sum(end - start for _, _, start, end, _ in related) != len(
            columns
        ):
            raise ValueError("Compiled: only a model's own columns (and select_related)")
        at = [i for i, p in enumerate(params) if p in (_PLACEHOLDER, str(_PLACEHOLDER))]
        if len(at) != 1:
            raise ValueError("Compiled: the value must appear exactly once")
        converters = compiler.get_converters(columns)
        return compiler, sql, list(params), at[0], converters, own, related, annotations

    def __call__(self, value, arg=None, *, key=None, using=DEFAULT_DB_ALIAS) -> list:
        cache_key = (using, arg if key is None else key)
        if cache_key not in self._compiled:
            self._compiled[cache_key] = self._compile(using, arg)
        compiler, sql, params, at, converters, own, related, annotations = self._compiled[cache_key]
        params = list(params)
        params[at] = value
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters:
            rows = compiler.apply_converters(rows, converters)
        model, start, end, names = own
        found = []
        for row in rows:
            obj = model.from_db(using, names, row[start:end])
            for field, rel_model, rel_start, rel_end, rel_names in related:
                values = row[rel_start:rel_end]
                pk = values[rel_names.index(rel_model._meta.pk.attname)]
                rel = None if pk is None else rel_model.from_db(using, rel_names, values)
                field.set_cached_value(obj, rel)
            for name, at_column in annotations.items():
                setattr(obj, name, row[at_column])
            found.append(obj)
        return found
