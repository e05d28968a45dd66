"""The mitigation catalogue: taxonomy, facets, sources, mitigations and their figures.

The rules for fields derived from others (a category's level, sort key and parent from its
code; a facet's slug from its name; a new page's slug from its name and code) live here
only: `save()` and the importer (which writes in bulk, without `save()`) both call them.
"""

import functools
import re

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.text import slugify
from simple_history.models import HistoricalRecords

from mitigations.invalidation import CatalogueModel, CatalogueQuerySet
from mitigations.search import search_mitigations
from portal.lib import access

# A taxonomy code: 1, 1.2 or 1.2.3 (three levels at most).
TAXONOMY_CODE = re.compile(r"[0-9]+(\.[0-9]+){0,2}")

MITIGATION_CODE = re.compile(r"[A-Za-z0-9_-]+")
MITIGATION_CODE_RULE = "use only letters, digits, '-' and '_'"


def validate_mitigation_code(value):
    """A mitigation's id (`code`): letters, digits, '-' and '_' only. It is part of URLs (the
    page's slug, /mitigations/<code>/, the feedback form's address) and of imports.

    The one check for it: the admin's form runs it as the field's validator, the importer
    calls it for the `id` column."""
    if not isinstance(value, str) or not MITIGATION_CODE.fullmatch(value):
        raise ValidationError(
            f"This is not a valid id: {MITIGATION_CODE_RULE}.", code="invalid_code"
        )


def _chunks(items, size=1000):
    for start in range(0, len(items), size):
        yield items[start : start + size]


_SLOT = "url-slot-0"
_PLAIN = re.compile(r"[-a-zA-Z0-9_.]+")


@functools.cache
def _url_pattern(name, prefix, urlconf):
    return reverse(name, args=[_SLOT])


@functools.cache
def _list_url(prefix, urlconf):
    return reverse("mitigations:list")


def fast_reverse(name, value) -> str:
    """reverse(name, args=[value]) for the catalogue's many links (cards, trees): resolved once
    per URL name, script prefix and URLconf; a value that would need quoting goes through
    reverse itself."""
    if not _PLAIN.fullmatch(value):
        return reverse(name, args=[value])
    return _url_pattern(name, get_script_prefix(), get_urlconf()).replace(_SLOT, value)


def code_sort_key(code: str) -> str:
    """'1.10.2' -> '0001.0010.0002' so that codes sort numerically as text."""
    return ".".join(part.zfill(4) for part in code.split("."))


class TaxonomyCategory(CatalogueModel):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    level = models.PositiveSmallIntegerField(editable=False, default=1)
    sort_key = models.CharField(max_length=60, editable=False, db_index=True, default="")

    class Meta:
        ordering = ["sort_key"]
        verbose_name_plural = "taxonomy categories"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=f"^{TAXONOMY_CODE.pattern}$"),
                name="taxonomy_code_format",
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @staticmethod
    def parent_code(code: str) -> str | None:
        return code.rsplit(".", 1)[0] if "." in code else None

    def set_derived_fields(self):
        """Set `level` and `sort_key` from the code (the parent needs a query: see save())."""
        self.level = self.code.count(".") + 1
        self.sort_key = code_sort_key(self.code)

    def save(self, *args, **kwargs):
        self.set_derived_fields()
        parent_code = self.parent_code(self.code)
        if parent_code and (self.parent is None or self.parent.code != parent_code):
            self.parent = TaxonomyCategory.objects.get(code=parent_code)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return fast_reverse("mitigations:category", self.code)

    def ancestors(self):
        """Parents from the top level down, without self."""
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))


class Facet(CatalogueModel):
    """A classification axis value: lifecycle stage, actor or AI RMF function."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    filter_param = ""  # the list filter's query parameter

    class Meta:
        abstract = True
        ordering = ["position", "name"]

    def __str__(self):
        return self.name

    @classmethod
    def slug_for(cls, name: str) -> str:
        """The URL slug (list filter value) of a facet named `name`."""
        return slugify(name)[: cls._meta.get_field("slug").max_length]

    def save(self, *args, **kwargs):
        self.slug = self.slug_for(self.name)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return f"{_list_url(get_script_prefix(), get_urlconf())}?{self.filter_param}={self.slug}"


class LifecycleStage(Facet):
    filter_param = "lifecycle"

    class Meta(Facet.Meta):
        verbose_name = "lifecycle stage"


class Actor(Facet):
    filter_param = "actor"


class RmfFunction(Facet):
    filter_param = "rmf"

    class Meta(Facet.Meta):
        verbose_name = "AI RMF function"


class SourceDocumentQuerySet(CatalogueQuerySet):
    def with_counts(self, mitigations):
        """Annotate `mitigation_count`: how many of `mitigations` (policy-filtered) cite it."""
        return self.annotate(
            mitigation_count=models.Count(
                "mitigations", filter=models.Q(mitigations__in=mitigations), distinct=True
            )
        )


class SourceDocument(CatalogueModel):
    key = models.SlugField(max_length=100, unique=True, help_text="Stable id, e.g. uuk2024")
    title = models.CharField(max_length=500)
    authors = models.JSONField(default=list, help_text="Ordered list of 'Surname, Given'")
    year = models.PositiveSmallIntegerField()
    url = models.URLField(max_length=500, blank=True)
    doi = models.CharField(max_length=200, blank=True)
    abstract = models.TextField(blank=True)

    objects = SourceDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "title"]

    def __str__(self):
        return f"{self.title} ({self.year})"

    def get_absolute_url(self):
        return fast_reverse("mitigations:source", self.key)

    @property
    def authors_display(self):
        return "; ".join(self.authors)

    @property
    def doi_url(self):
        return f"https://doi.org/{self.doi}" if self.doi else ""


class MitigationQuerySet(CatalogueQuerySet):
    def visible_to(self, user):
        return access.visible_mitigations(self, user)

    def search(self, text):
        return search_mitigations(self, text)

    def with_restricted_figures(self, now=None):
        """Pages with preliminary or embargoed figures (ask first whether the user may know)."""
        figures = Figure.objects.filter(mitigation=models.OuterRef("pk"))
        return self.filter(models.Exists(figures.filter(access.restricted_q(now))))

    def embargo_lifting_soon(self, now=None):
        """Pages with an embargo that lifts within access.LIFTING_SOON_DAYS, with the first
        such day as `lifts_on`, soonest first."""
        soon = access.lifting_soon_q(now, prefix="figures__")
        return (
            self.filter(soon)
            .annotate(lifts_on=models.Min("figures__embargo_until", filter=soon))
            .order_by("lifts_on", "name")
        )

    def for_list(self, *more):
        """What a list's cards show (and `more` fields)."""
        return self.select_related("category").only(
            *more,
            "code",
            "name",
            "slug",
            "definition",
            "status",
            "updated_at",
            "public_updated_at",
            "category__code",
            "category__name",
        )


class Mitigation(CatalogueModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        POLISHING = "polishing", "Still being polished"
        PUBLISHED = "published", "Published"

    class ClassifiedBy(models.TextChoices):
        CLASSIFIER = "classifier", "Automatic classifier"
        HUMAN = "human", "Human"

    code = models.CharField(
        "id",
        max_length=20,
        unique=True,
        validators=[validate_mitigation_code],
        help_text="Stable id, e.g. A1427 (letters, digits, '-' and '_')",
    )
    name = models.CharField(max_length=300)
    slug = models.SlugField(max_length=200, unique=True)
    definition = models.TextField()
    additional_information = models.TextField(blank=True, help_text="Markdown")
    reasoning = models.TextField(blank=True)
    classified_by = models.CharField(
        max_length=20, choices=ClassifiedBy.choices, default=ClassifiedBy.CLASSIFIER
    )
    category = models.ForeignKey(
        TaxonomyCategory, on_delete=models.PROTECT, related_name="mitigations"
    )
    lifecycle_primary = models.ForeignKey(
        LifecycleStage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifecycle_other = models.ManyToManyField(LifecycleStage, blank=True, related_name="+")
    actor_primary = models.ForeignKey(
        Actor, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_other = models.ManyToManyField(Actor, blank=True, related_name="+")
    rmf_primary = models.ForeignKey(
        RmfFunction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rmf_other = models.ManyToManyField(RmfFunction, blank=True, related_name="+")
    sources = models.ManyToManyField(SourceDocument, blank=True, related_name="mitigations")
    related = models.ManyToManyField("self", blank=True, symmetrical=False)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.POLISHING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Any change, hidden figures included: shown to those who see everything on the page.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Changes everyone who may see the page can see (its fields, links and unrestricted
    # figures): the date and version shown to readers (portal/lib/access.py decides who
    # sees which). Moved by `touch_public` only, never by an edit of a hidden figure.
    public_updated_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    public_version = models.PositiveIntegerField(default=1, editable=False)
    # Maintained by a PostgreSQL trigger (see migrations); unused on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)

    history = HistoricalRecords(
        excluded_fields=["search_vector", "updated_at", "created_at", "public_updated_at"]
    )
    objects = MitigationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("view_draft_mitigation", "Can see draft pages")]
        indexes = [
            models.Index(fields=["status", "name"]),
            # The list's default order (and the drafts-excluded list walks it in order).
            models.Index(fields=["name"], name="mitigation_name"),
            # An id searched in any case (code__iexact): without it PostgreSQL walked the
            # name index until it met the page (up to 7 ms for a page late in the alphabet).
            models.Index(Upper("code"), name="mitigation_code_upper"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "polishing", "published"]),
                name="mitigation_status_valid",
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    # Fields whose change is a change of the page for everyone who may see it.
    NOT_CONTENT = frozenset(
        {"id", "created_at", "updated_at", "public_updated_at", "public_version", "search_vector"}
    )

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = self.make_slug(self.name, self.code)
        if not self._state.adding and self.pk is not None:
            self._keep_public_state(kwargs)
        super().save(*args, **kwargs)

    def _keep_public_state(self, kwargs):
        """Move the public date and version when this save changes a field readers see;
        otherwise keep the stored ones (this instance may hold older values: a figure or a
        link may have moved them since it was loaded). One query against the stored row."""
        names = [
            f.attname
            for f in self._meta.concrete_fields
            if f.name not in self.NOT_CONTENT and not f.primary_key
        ]
        stored = (
            type(self)
            ._base_manager.filter(pk=self.pk)
            .values(*names, "public_version", "public_updated_at")
            .first()
        )
        if stored is None:
            return
        if any(stored[name] != getattr(self, name) for name in names):
            self.public_version = stored["public_version"] + 1
            self.public_updated_at = timezone.now()
            fields = kwargs.get("update_fields")
            if fields is not None:
                kwargs["update_fields"] = {*fields, "public_updated_at", "public_version"}
        else:
            self.public_version = stored["public_version"]
            self.public_updated_at = stored["public_updated_at"]

    @classmethod
    def touch(cls, pks, public_pks=(), now=None):
        """Changes to these pages that are not saves of the page itself (figures, links):
        `updated_at` moves for all of `pks`, the public date and version only for
        `public_pks` (changes readers can see). No history record: those hold page fields."""
        now = now or timezone.now()
        public_pks = set(public_pks)
        hidden_pks = set(pks) - public_pks
        for chunk in _chunks(sorted(public_pks)):
            cls._base_manager.filter(pk__in=chunk).update(
                updated_at=now, public_updated_at=now, public_version=F("public_version") + 1
            )
        for chunk in _chunks(sorted(hidden_pks)):
            cls._base_manager.filter(pk__in=chunk).update(updated_at=now)

    @classmethod
    def make_slug(cls, name: str, code: str) -> str:
        """The slug of a new page, e.g. 'unlearning-a1429'. It is kept when the name or the
        code changes later, so that the page's URL stays stable."""
        suffix = f"-{code.lower()}"
        base = slugify(name)[:179] or "mitigation"
        length = cls._meta.get_field("slug").max_length
        if len(base) + len(suffix) > length:  # keep the code, shorten the name part
            base = base[: length - len(suffix)].rstrip("-")
        return base + suffix

    def get_absolute_url(self):
        return fast_reverse("mitigations:detail", self.slug)

    @property
    def version(self):
        """The page's newest history record (None before any): internal, for the admin's
        diffs; never shown to readers (they see `public_version`)."""
        latest = self.history.order_by("-history_id").values_list("history_id", flat=True)
        return latest.first()

    def history_id_for(self, public_version: int):
        """The newest history record with the page as readers saw it at `public_version`.

        Through the history model's own manager: `self.history` builds a manager class on
        every access (simple_history): about a third of the lookup."""
        return (
            _mitigation_history()
            ._default_manager.filter(id=self.pk, public_version__lte=public_version)
            .order_by("-history_id")
            .values_list("history_id", flat=True)
            .first()
        )


@functools.cache
def _mitigation_history():
    return Mitigation.history.model


class FigureQuerySet(CatalogueQuerySet):
    def visible_to(self, user, now=None):
        return access.visible_figures(self, user, now)

    def hidden_from(self, user, now=None):
        return access.hidden_figures(self, user, now)


class Figure(CatalogueModel):
    mitigation = models.ForeignKey(Mitigation, on_delete=models.CASCADE, related_name="figures")
    key = models.SlugField(max_length=100)
    label = models.CharField(max_length=300)
    value = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=40, blank=True)
    risk_area = models.CharField(max_length=100, blank=True)
    sample_size = models.PositiveIntegerField(null=True, blank=True)
    preliminary = models.BooleanField(default=True)
    embargo_until = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    history = HistoricalRecords()
    objects = FigureQuerySet.as_manager()

    class Meta:
        ordering = ["mitigation", "position", "key"]
        permissions = [
            ("view_restricted_figure", "Can see preliminary and embargoed figures"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["mitigation", "key"], name="figure_unique_key"),
        ]

    def __str__(self):
        return f"{self.mitigation.code} {self.key}"

    @property
    def is_restricted(self):
        return access.figure_is_restricted(self)


class FigureView(models.Model):
    """Audit: a reviewer saw a page's restricted figures on a day (one row per user/page/day)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mitigation = models.ForeignKey(Mitigation, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    views = models.PositiveIntegerField(default=1)
    # The viewer's invisible mark of that day (portal/lib/stamps.py), for tracing leaks.
    stamp = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta:
        ordering = ["-day", "-last_seen"]
        verbose_name = "restricted figure view"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "mitigation", "day"], name="figureview_once_a_day"
            )
        ]

    def __str__(self):
        return f"{self.user} saw {self.mitigation.code} on {self.day}"


class StagedImport(models.Model):
    """Files of an admin dry run, kept so that "Import these files now" applies exactly
    them on any app server (mitigations/import_review.py). Removed once applied; the token
    that names them expires after an hour."""

    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    names = models.JSONField(default=list)
    data = models.BinaryField(help_text="The uploaded files, as one zip")

    def __str__(self):
        return f"{', '.join(self.names)} ({self.created_at:%Y-%m-%d %H:%M})"
