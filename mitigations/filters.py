"""The list page's filters (django-filter): taxonomy at any level, facets, source, status."""

import copy

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q

from mitigations.models import (
    Actor,
    Figure,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)
from mitigations.speedups import CatalogueChoiceFilter, FastSelect
from portal.lib import access

SORTS = {
    "relevance": ("Relevance", None),
    "name": ("Name (A–Z)", ("name",)),
    "-updated": ("Recently updated", ("-updated", "name")),  # the user's date (access.py)
    "code": ("Taxonomy code", ("category__sort_key", "name")),
}


def set_parameters(params, drop=("page",)):
    """The query string of `params` with only the parameters that are set (no `category=`)."""
    query = params.copy()
    for name in list(query):
        values = [v for v in query.getlist(name) if v.strip()]
        if name in drop or not values:
            del query[name]
        else:
            query.setlist(name, values)
    return query.urlencode()


# (filter set class, sees drafts, may filter by restricted figures) -> (filters, form class)
_PROTOTYPES: dict = {}


class MitigationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label="Search", method="filter_q")
    category = CatalogueChoiceFilter(
        label="Taxonomy category",
        # Only what the options, the lookup and filter_category use (no descriptions).
        queryset=TaxonomyCategory.objects.only("code", "name", "sort_key"),
        to_field_name="code",
        method="filter_category",
        empty_label="Any category",
        widget=FastSelect,
    )
    lifecycle = CatalogueChoiceFilter(
        label="Lifecycle stage",
        queryset=LifecycleStage.objects.all(),
        to_field_name="slug",
        method="filter_facet",
        empty_label="Any stage",
        widget=FastSelect,
    )
    actor = CatalogueChoiceFilter(
        label="Actor",
        queryset=Actor.objects.all(),
        to_field_name="slug",
        method="filter_facet",
        empty_label="Any actor",
        widget=FastSelect,
    )
    rmf = CatalogueChoiceFilter(
        label="AI RMF function",
        queryset=RmfFunction.objects.all(),
        to_field_name="slug",
        method="filter_facet",
        empty_label="Any function",
        widget=FastSelect,
    )
    source = CatalogueChoiceFilter(
        label="Source document",
        # The option is "title (year)", the value the key: no abstracts or author lists.
        queryset=SourceDocument.objects.only("key", "title", "year"),
        to_field_name="key",
        method="filter_source",
        empty_label="Any source",
        widget=FastSelect,
    )
    status = django_filters.ChoiceFilter(
        label="Page status",
        choices=[],
        method="filter_status",
        empty_label="Any status",
        widget=FastSelect,
    )
    # Only for those who see restricted figures (removed in __init__ for everyone else).
    restricted = django_filters.ChoiceFilter(
        label="Restricted figures",
        choices=[
            ("1", "Has preliminary or embargoed figures"),
            ("lifting", f"Embargo lifts within {access.LIFTING_SOON_DAYS} days"),
        ],
        method="filter_restricted",
        empty_label="Any",
        widget=FastSelect,
    )
    sort = django_filters.ChoiceFilter(
        label="Sort by",
        choices=[(k, v[0]) for k, v in SORTS.items()],
        method="filter_sort",
        empty_label=None,
        widget=FastSelect,
    )

    class Meta:
        model = Mitigation
        fields = []

    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        key = (type(self), access.can_see_drafts(user), access.can_filter_restricted(user))
        prototype = _PROTOTYPES.get(key)
        if prototype is None:  # the first filter set of this kind: the filters are made here
            super().__init__(*args, **kwargs)
            self._prepare_filters(user)
            self._form_class = super().get_form_class()
            _PROTOTYPES[key] = (self.filters, self._form_class)
            return
        # Later ones copy its filters (their fields and widgets shared: Django's form copies
        # the fields it is given) and its form class, instead of deep-copying every filter
        # and making a form class per request.
        self.base_filters = {}  # what django-filter would deep-copy
        super().__init__(*args, **kwargs)
        del self.base_filters
        filters, self._form_class = prototype
        self.filters = {name: self._adopt(copy.copy(f)) for name, f in filters.items()}

    def _adopt(self, filter_):
        filter_.model = self.queryset.model
        filter_.parent = self
        filter_.method = filter_.method  # its own FilterMethod, bound to this filter set
        return filter_

    def get_form_class(self):
        return self._form_class

    def _prepare_filters(self, user):
        statuses = [
            (value, label)
            for value, label in Mitigation.Status.choices
            if value != Mitigation.Status.DRAFT or access.can_see_drafts(user)
        ]
        self.filters["status"].extra["choices"] = statuses
        if not access.can_filter_restricted(user):
            # For everyone else the parameter does not exist: no effect, no form field.
            del self.filters["restricted"]
        for name, f in self.filters.items():
            widget = f.field.widget
            if isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select form-select-sm"
            else:
                widget.attrs["class"] = "form-control form-control-sm"
                widget.attrs["maxlength"] = "200"
            widget.attrs["id"] = f"filter-{name}"

    def filter_q(self, queryset, name, value):
        # Orders by relevance; a chosen sort (applied after) overrides it.
        return queryset.search(value)

    def filter_category(self, queryset, name, value):
        key = value.sort_key
        return queryset.filter(
            Q(category__sort_key=key) | Q(category__sort_key__startswith=key + ".")
        )

    def filter_facet(self, queryset, name, value):
        through = Mitigation._meta.get_field(f"{name}_other").remote_field.through
        other = through.objects.filter(mitigation=OuterRef("pk"), **{value._meta.model_name: value})
        return queryset.filter(Q(**{f"{name}_primary": value}) | Q(Exists(other)))

    def filter_source(self, queryset, name, value):
        return queryset.filter(sources=value)

    def filter_status(self, queryset, name, value):
        return queryset.filter(status=value)

    def filter_restricted(self, queryset, name, value):
        figures = Figure.objects.filter(mitigation=OuterRef("pk"))
        if value == "lifting":
            figures = figures.filter(access.lifting_soon_q())
        else:
            figures = figures.filter(access.restricted_q())
        return queryset.filter(Exists(figures))

    def filter_sort(self, queryset, name, value):
        order = SORTS.get(value, (None, None))[1]
        if not order:
            return queryset
        updated = f"-{access.updated_field(self.user)}"
        return queryset.order_by(*(updated if o == "-updated" else o for o in order))

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        if not data.get("q") and data.get("sort") in (None, "", "relevance"):
            queryset = queryset.order_by("name")
        return queryset

    def narrows(self):
        """Whether a valid bound filter leaves out any row (a sort alone does not)."""
        data = self.form.cleaned_data
        return any(data.get(name) for name in self.filters if name != "sort")

    def active_filters(self):
        """(label, value label, url without it) for each active filter, for removable chips."""
        if not self.is_bound or not self.form.is_valid():
            return []
        chips = []
        names = ("q", "category", "lifecycle", "actor", "rmf", "source", "status", "restricted")
        for name in names:
            value = self.form.cleaned_data.get(name)
            if not value or name not in self.filters:
                continue
            params = self.data.copy()
            params.pop(name, None)
            label = self.filters[name].label
            if name in ("status", "restricted"):
                shown = dict(self.filters[name].extra["choices"])[value]
            else:
                shown = str(value)
            chips.append((label, shown, set_parameters(params)))
        return chips
