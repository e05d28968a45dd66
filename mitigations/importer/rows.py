"""Fast inserts of new rows together with their simple_history records."""

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, models
from simple_history.utils import bulk_create_with_history, get_history_manager_for_model

from mitigations.importer.queries import BATCH_SIZE, chunks

# Fields whose str/int/bool/None values go to the database as they are.
PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


class RowWriter:
    """Inserts new rows (and their simple_history "+" records) quickly.

    Why not `bulk_create_with_history`: for 10,000 mitigations with 60,000 figures it spends
    ~25 s of CPU in Django's per-value INSERT compilation (about two million values, history
    included) and, on PostgreSQL, in per-parameter adaptation. Here each value is prepared once
    with the field's own `pre_save`/`get_db_prep_save` (so the database sees exactly what
    bulk_create would send), the history row reuses the prepared values, and the rows are sent
    with COPY on PostgreSQL (ids drawn from the table's sequence first) or with multi-row
    `INSERT … RETURNING` elsewhere. The history rows have the columns simple_history's
    historical model declares, filled as `bulk_history_create` fills them (tracked fields,
    `history_date`, `history_type` "+", `history_user`, `history_change_reason`); any other
    column is an error rather than a silent gap. Backends without RETURNING fall back to
    simple_history's `bulk_create_with_history`. Updates always use simple_history's
    `bulk_update_with_history`. SQL is built only from model metadata (quoted names); every
    value is a bound parameter or a COPY row.
    """

    def __init__(self, user, reason: str, date):
        self.user, self.reason, self.date = user, reason, date
        self.connection = connections[DEFAULT_DB_ALIAS]  # not the per-access proxy
        # COPY needs psycopg 3 (the project's driver); with psycopg2, INSERT … RETURNING is used.
        self.postgres = (
            self.connection.vendor == "postgresql"
            and getattr(self.connection.Database, "__name__", "") == "psycopg"
        )
        self.fast = self.postgres or self.connection.features.can_return_rows_from_bulk_insert

    def create(self, model, items: list[dict], history: bool = True) -> list:
        """Insert rows given as {attname: value} (absent fields get their default, auto_now
        fields the import's time) and, when `history`, their history records; return the pks."""
        if not items:
            return []
        if not self.fast:  # pragma: no cover - SQLite >= 3.35 and PostgreSQL are fast
            objs = [model(**item) for item in items]
            if history:
                objs = bulk_create_with_history(
                    objs, model, batch_size=BATCH_SIZE, default_user=self.user,
                    default_change_reason=self.reason, default_date=self.date,
                )  # fmt: skip
            else:
                objs = model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
            return [obj.pk for obj in objs]
        pk = model._meta.pk
        fields = [f for f in model._meta.concrete_fields if f is not pk]
        plan = []
        for f in fields:
            # str/int/bool/None values of text, integer, boolean and key fields go to the
            # database as they are (their get_db_prep_save is the identity for them).
            target = f.target_field if f.is_relation else f
            prepare = None if isinstance(target, PLAIN_FIELDS) else f.get_db_prep_save
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                default = self.date
            else:
                default = f.get_default()
            if prepare is not None:
                default = prepare(default, self.connection)
            plan.append((f.attname, prepare, default))
        connection_ = self.connection
        rows = []
        for item in items:
            row = []
            for attname, prepare, default in plan:
                if attname not in item:
                    row.append(default)
                elif prepare is None:
                    row.append(item[attname])
                else:
                    row.append(prepare(item[attname], connection_))
            rows.append(row)
        pks = self.insert(model._meta.db_table, [f.column for f in fields], rows, returning=pk)
        if history:
            self._history(model, fields, rows, pks)
        return pks

    def _history(self, model, fields, rows, pks):
        historical = get_history_manager_for_model(model).model
        index = {f.attname: i for i, f in enumerate(fields)}
        user_pk = self.user.pk if self.user is not None else None
        fixed = {
            "history_type": "+",
            "history_change_reason": self.reason,
            "history_user_id": user_pk,
        }
        columns, picks = [], []
        for f in historical._meta.concrete_fields:
            if f is historical._meta.pk:
                continue
            if f.attname == model._meta.pk.attname:
                picks.append(("pk", None))
            elif f.attname in index:
                picks.append(("row", index[f.attname]))
            elif f.attname == "history_date":
                picks.append(("fixed", f.get_db_prep_save(self.date, self.connection)))
            elif f.attname in fixed:
                picks.append(("fixed", f.get_db_prep_save(fixed[f.attname], self.connection)))
            else:
                raise ImproperlyConfigured(
                    f"{historical.__name__}.{f.attname}: the importer does not know how to fill "
                    "this history column (see RowWriter)."
                )
            columns.append(f.column)
        history_rows = [
            [pk if kind == "pk" else row[arg] if kind == "row" else arg for kind, arg in picks]
            for row, pk in zip(rows, pks, strict=True)
        ]
        self.insert(historical._meta.db_table, columns, history_rows)

    def insert(self, table: str, columns: list[str], rows: list[list], returning=None) -> list:
        """Insert prepared rows; return the new primary keys when `returning` (the pk field)."""
        quote = self.connection.ops.quote_name
        names = ", ".join(quote(c) for c in columns)
        pks = []
        with self.connection.cursor() as cursor:
            if self.postgres:
                if returning is not None:
                    cursor.execute(
                        "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                        "FROM generate_series(1, %s)",
                        [quote(table), returning.column, len(rows)],
                    )
                    pks = [row[0] for row in cursor.fetchall()]
                    names = f"{quote(returning.column)}, {names}"
                    rows = [[pk, *row] for pk, row in zip(pks, rows, strict=True)]
                with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return pks
            tail = f" RETURNING {quote(returning.column)}" if returning is not None else ""
            placeholder = f"({', '.join(['%s'] * len(columns))})"
            for chunk in chunks(rows, max(1, min(BATCH_SIZE, 30000 // max(1, len(columns))))):
                sql = f"INSERT INTO {quote(table)} ({names}) VALUES "  # noqa: S608
                sql += ", ".join([placeholder] * len(chunk)) + tail
                cursor.execute(sql, [value for row in chunk for value in row])
                if returning is not None:
                    pks.extend(row[0] for row in cursor.fetchall())
        return pks
