"""Performing a plan's writes, in dependency order: taxonomy (parents first), facets and
sources, mitigations, their many-to-many links, figures. Rows are written in bulk (new
rows by `RowWriter`, changed ones with simple_history's `bulk_update_with_history`), so no
`save()` and no signal runs: the derived fields come from the models' own rules."""

from collections import defaultdict

from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from mitigations.dataset import FACET_TABLES
from mitigations.importer.plan import MANY_TO_MANY, PRIMARY_FACETS, SIMPLE_MITIGATION_FIELDS, Plan
from mitigations.importer.progress import ticker
from mitigations.importer.queries import BATCH_SIZE, chunks, filter_in
from mitigations.importer.rows import RowWriter
from mitigations.models import Figure, Mitigation, SourceDocument, TaxonomyCategory

WRITE_STEP = 2000  # rows per progress step while writing
TEMPORARY_CODE_PREFIX = "~renaming~"  # + the page's pk, while renames are written


def write(plan: Plan, user, reason: str):
    now = timezone.now()
    history = {
        "default_user": user,
        "default_change_reason": reason,
        "default_date": now,  # one import, one moment
        "batch_size": BATCH_SIZE,
    }
    writer = RowWriter(user, reason, now)
    category_pks = _write_taxonomy(plan)
    facet_pks = {}
    for table, model in FACET_TABLES.items():
        model.objects.bulk_create(plan.creates[table], batch_size=BATCH_SIZE)
        _update(plan, table, model)
        facet_pks[table] = dict(model.objects.values_list("name", "pk"))
    SourceDocument.objects.bulk_create(plan.creates["sources"], batch_size=BATCH_SIZE)
    _update(plan, "sources", SourceDocument)
    source_pks = dict(SourceDocument.objects.values_list("key", "pk"))
    _write_mitigations(plan, writer, history, category_pks, facet_pks)
    targets = {**facet_pks, "sources": source_pks, "mitigations": plan.mitigation_pks}
    _write_links(plan, writer, targets)
    figures = [
        {"mitigation_id": plan.mitigation_pks[code], **values}
        for code, values in plan.creates["figures"]
    ]
    for batch in _batches(plan, "writing figures", figures):
        writer.create(Figure, batch)
    for batch in _batches(plan, "updating figures", plan.updates["figures"]):
        bulk_update_with_history(batch, Figure, sorted(plan.update_fields["figures"]), **history)
    # Pages whose only change is a figure: `updated_at` moves, the public date and version
    # only when readers can see the figure (portal/lib/access.py decides).
    moved = {obj.pk for obj in plan.updates["mitigations"]}
    Mitigation.touch(
        plan.figure_pages - moved, public_pks=plan.public_figure_pages - moved, now=now
    )


def _batches(plan: Plan, step, objs):
    tick = ticker(plan.progress, step, len(objs))
    for start in range(0, len(objs), WRITE_STEP):
        yield objs[start : start + WRITE_STEP]
        tick(min(start + WRITE_STEP, len(objs)))


def _update(plan: Plan, table, model):
    objs = plan.updates[table]
    if objs:
        model.objects.bulk_update(objs, sorted(plan.update_fields[table]), batch_size=BATCH_SIZE)


def _write_taxonomy(plan: Plan) -> dict[str, int]:
    """Parents first (a level at a time), so each child can point at its parent; return
    {code: pk} of every category."""
    category_pks = {code: c.pk for code, c in plan.taxonomy.items()}
    by_level = defaultdict(list)
    for category in plan.creates["taxonomy"]:
        by_level[category.level].append(category)
    for level in sorted(by_level):
        for category in by_level[level]:
            parent = TaxonomyCategory.parent_code(category.code)
            category.parent_id = category_pks[parent] if parent else None
        TaxonomyCategory.objects.bulk_create(by_level[level], batch_size=BATCH_SIZE)
        category_pks.update(
            filter_in(
                TaxonomyCategory.objects.values_list("code", "pk"),
                "code",
                [c.code for c in by_level[level]],
            )
        )
    _update(plan, "taxonomy", TaxonomyCategory)
    return category_pks


def _write_mitigations(plan: Plan, writer: RowWriter, history, category_pks, facet_pks):
    _free_renamed_codes(plan)
    new = []
    for record in plan.creates["mitigations"]:
        values = record.values
        item = {
            "code": values["id"],
            "category_id": category_pks[values["taxonomy_code"]],
            "public_updated_at": writer.date,
        }
        item.update((name, values[name]) for name in SIMPLE_MITIGATION_FIELDS if name in values)
        for col, table in PRIMARY_FACETS.items():
            if values.get(col) is not None:
                item[f"{col}_id"] = facet_pks[table][values[col]]
        new.append(item)
    _assign_slugs(new)
    for batch in _batches(plan, "writing mitigations", new):
        pks = writer.create(Mitigation, batch)
        plan.mitigation_pks.update((item["code"], pk) for item, pk in zip(batch, pks, strict=True))
    updated = plan.updates["mitigations"]
    for obj in updated:
        changed, values = plan.mitigation_changes[obj.code]
        if "category" in changed:
            obj.category_id = category_pks[values["taxonomy_code"]]
        for col, table in PRIMARY_FACETS.items():
            if col in changed and values.get(col) is not None:
                setattr(obj, f"{col}_id", facet_pks[table][values[col]])
            elif col in changed:
                setattr(obj, f"{col}_id", None)
        obj.updated_at = obj.public_updated_at = writer.date
        obj.public_version += 1  # every column of a page is visible to its readers
    fields = {
        "updated_at",
        "public_updated_at",
        "public_version",
        *plan.update_fields["mitigations"],
    }
    for batch in _batches(plan, "updating mitigations", updated):
        bulk_update_with_history(batch, Mitigation, sorted(fields), **history)


def _free_renamed_codes(plan: Plan):
    """Give the renamed pages a temporary code first, so that no new code is still taken
    when pages and new rows get it (a chain or a swap frees codes for one another). The
    codes are unique at every statement: no deferred constraint is needed. Temporary codes
    are outside the id alphabet (letters, digits, '-', '_'), so they meet no real code;
    the transaction ends with every page at its final code (the history records only that)."""
    pks = [plan.mitigations[rename.new].pk for rename in plan.renames]
    for chunk in chunks(pks):
        Mitigation.objects.filter(pk__in=chunk).update(
            code=Concat(Value(TEMPORARY_CODE_PREFIX), Cast("pk", CharField()))
        )


def _write_links(plan: Plan, writer: RowWriter, targets: dict[str, dict]):
    for col, (field_name, table) in MANY_TO_MANY.items():
        model_field = Mitigation._meta.get_field(field_name)
        through = model_field.remote_field.through
        for chunk in chunks(plan.link_removes[col]):
            through.objects.filter(pk__in=chunk).delete()
        pairs = [
            [plan.mitigation_pks[code], targets[table][key]] for code, key in plan.link_adds[col]
        ]
        columns = [model_field.m2m_column_name(), model_field.m2m_reverse_name()]
        for batch in _batches(plan, f"linking {col}", pairs):
            writer.insert(through._meta.db_table, columns, batch)


def _assign_slugs(new: list[dict]):
    """make_slug(name, code) for each new mitigation, made unique if it is taken."""
    length = Mitigation._meta.get_field("slug").max_length
    wanted = {item["code"]: Mitigation.make_slug(item["name"], item["code"]) for item in new}
    taken = set(
        filter_in(Mitigation.objects.values_list("slug", flat=True), "slug", wanted.values())
    )
    used = set()
    for item in new:
        base = slug = wanted[item["code"]]
        number = 1
        while slug in used or slug in taken:
            number += 1
            suffix = f"-{number}"
            slug = base[: length - len(suffix)] + suffix
            if Mitigation.objects.filter(slug=slug).exists():
                taken.add(slug)
        used.add(slug)
        item["slug"] = slug
