"""The moderation queue's HTML built in Python: the very bytes Django's admin would make.

A speed shortcut, justified by the benchmark scenarios `admin_feedback`,
`admin_feedback_filtered` and `admin_feedback_category` of bench/drive.py (the changelist
over 1,000,000 rows as an editor, target p50 < 300 ms; bench/README.md). Django's rows
cost most of that page's CPU: lookup_field, display_for_field and format_html per cell, a
widget template per checkbox, reverse() and resolve() per change link. Here each row is one
string, each link reversed once per page, and the category filter's 140-odd list items are
made the same way.

That it matches Django's own path is tested in tests/feedback/test_admin_scale.py: the rows
and the result table against items_for_result and {% result_list %}
(test_rows_are_the_html_django_makes), the fallback to Django's rows
(test_unknown_column_falls_back_to_djangos_rows), the page links against get_absolute_url,
truncate_chars against Truncator, and the category filter's items against
SimpleListFilter.choices (test_category_filter_links_are_djangos).
"""

import functools
import html
import re
import secrets
import unicodedata
from urllib.parse import quote_plus

from django import forms
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_list import ResultList, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_value
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.template.loader import select_template
from django.urls import reverse
from django.utils import dateformat, formats, timezone
from django.utils.encoding import iri_to_uri
from django.utils.functional import Promise, cached_property
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator, add_truncation_text, calculate_truncate_chars_length
from django.utils.translation import get_language, gettext, override, pgettext

_PK = "0fastpk0"  # stands for the pk in a change URL reversed once per page
_SLUG = "0fastslug0"  # stands for the slug in a page URL reversed once per page
# Stands for a filter's value in its links, encoded once per page (random: the other
# parameters of a link are the request's).
_VALUE = f"0value{secrets.token_hex(8)}0"
_ROW = f"0row{secrets.token_hex(8)}0"  # stands for the rows in the result table
_PLAIN_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
# Big page columns the list never shows (the search vector alone is most of the row).
LIST_DEFERRED = [
    "mitigation__definition",
    "mitigation__additional_information",
    "mitigation__reasoning",
    "mitigation__search_vector",
]


def _escape(value):
    """conditional_escape() without its lazy-string wrapper (called thousands of times)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def filter_html(title, choices):
    """What admin/filter.html makes of a filter's title and choices, between its first and
    last line breaks."""
    by_title = gettext(" By %(filter_title)s ") % {"filter_title": _escape(title)}
    items = "".join([filter_choice_html(choice) for choice in choices])
    return mark_safe(  # noqa: S308 - the values are escaped
        f'<details data-filter-title="{_escape(title)}" open>\n'
        f"  <summary>\n    {by_title}\n  </summary>\n"
        f"  <ul>\n  {items}\n  </ul>\n</details>"
    )


def filter_choice_html(choice):
    """The list item admin/filter.html makes of a filter choice (selected, link, label)."""
    selected = ' class="selected"' if choice["selected"] else ""
    return mark_safe(  # noqa: S308 - the values are escaped
        f"\n    <li{selected}>\n    "
        f'<a href="{_escape(iri_to_uri(choice["query_string"]))}">'
        f"{_escape(choice['display'])}</a></li>\n  "
    )


@functools.lru_cache(maxsize=16)
def _ellipsis(language):
    """Django's truncation text in `language` (looked up once, not once per page name)."""
    with override(language):
        return pgettext("String to return when truncating text", "%(truncated_text)s…")


def truncate_chars(text, length):
    """Truncator(text).chars(length), faster for short and for ASCII text (most comments).

    Django walks the text character by character (combining characters do not count) and
    looks the translated ellipsis up twice; ASCII text has no combining characters, so the
    cut is simply at the length less the ellipsis.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if len(text) <= length:
        return text
    ellipsis = _ellipsis(get_language())
    if text.isascii():
        return add_truncation_text(
            text[: calculate_truncate_chars_length(length, ellipsis)], ellipsis
        )
    return Truncator(text).chars(length, truncate=ellipsis)


def _value_html(method, empty):
    """A function obj -> the html of method(obj) as a cell shows it (display_for_value, then
    escaped); a non-empty SafeString (the queue's columns) is shown as it is."""

    def value_html(obj):
        value = method(obj)
        if type(value) is SafeString and value:
            return value
        return _escape(display_for_value(value, empty))

    return value_html


def _attrs_html(attrs):
    """What django/forms/widgets/attrs.html makes of a widget's attributes."""
    return "".join(
        [
            f" {_escape(name)}" if value is True else f' {_escape(name)}="{_escape_s(value)}"'
            for name, value in attrs.items()
            if value is not False
        ]
    )


def _escape_s(value):
    """`{{ value|stringformat:'s' }}`"""
    return value.__html__() if hasattr(value, "__html__") else html.escape(f"{value}")


class ActionSelect(forms.Select):
    """The actions' menu: forms.Select with its HTML made in Python (the same as Django's
    select.html, select_option.html and attrs.html make, without a template per option)."""

    def _render(self, template_name, context, renderer=None):
        widget = context["widget"]
        groups = widget["optgroups"]
        if any(
            name or any(not isinstance(o["label"], str | Promise) for o in options)
            for name, options, _ in groups
        ):  # option groups, or labels that a template would localise (numbers, dates)
            return super()._render(template_name, context, renderer)
        options = "".join(
            [
                f'\n  <option value="{_escape_s(option["value"])}"'
                f"{_attrs_html(option['attrs'])}>{_escape(option['label'])}</option>\n"
                for _name, group, _index in groups
                for option in group
            ]
        )
        return mark_safe(  # noqa: S308 - every value is escaped
            f'<select name="{_escape(widget["name"])}"{_attrs_html(widget["attrs"])}>'
            f"{options}\n</select>"
        )


class ActionForm(helpers.ActionForm):
    """The admin's action form, its menu an ActionSelect."""

    action = forms.ChoiceField(
        label=helpers.ActionForm.base_fields["action"].label, widget=ActionSelect
    )


class PageUrls:
    """The two links of the "Page" column, each reversed once instead of once per row."""

    def __init__(self):
        self.changelist = escape(reverse("admin:feedback_feedback_changelist"))
        self.detail = reverse("mitigations:detail", args=[_SLUG])

    def page_url(self, mitigation):
        if _PLAIN_SLUG.fullmatch(mitigation.slug):
            return self.detail.replace(_SLUG, mitigation.slug)
        return mitigation.get_absolute_url()

    def link(self, obj):
        if not obj.mitigation_id:
            return "General"
        page = obj.mitigation
        code = _escape(page.code)
        return mark_safe(  # noqa: S308 - every value is escaped
            f'<a href="{self.changelist}?page={code}" title="Feedback on this page">{code}</a> '
            f'<a href="{_escape(self.page_url(page))}">{_escape(truncate_chars(page.name, 40))}</a>'
        )


class FeedbackChangeList(ChangeList):
    """Django's changelist, with the result rows built in Python, one string a row.

    The stock rows go through lookup_field, display_for_field and format_html per cell, a
    widget template per checkbox, and reverse() and resolve() per change link: most of the
    page's CPU for 50 rows. These rows are the same HTML (tests/feedback/test_admin_scale.py
    compares them with Django's); a column, link or mode this class does not know (another
    list_display entry, list_editable, a popup) falls back to Django's rows.
    """

    def get_query_string(self, new_params=None, remove=None):
        """ChangeList.get_query_string; the filters' links (one parameter set to a plain
        value) made from one encoded string per parameter instead of encoding them all
        again for each link."""
        if not new_params or len(new_params) != 1:
            return super().get_query_string(new_params, remove)
        [(name, value)] = new_params.items()
        if type(value) not in (str, int):
            return super().get_query_string(new_params, remove)
        key = (name, tuple(remove or ()))
        templates = self.__dict__.setdefault("_query_templates", {})
        template = templates.get(key)
        if template is None:
            template = templates[key] = super().get_query_string({name: _VALUE}, remove)
        return template.replace(_VALUE, quote_plus(str(value)))

    def get_results(self, request):
        queryset = self.queryset
        # Only the columns the rows read when this class builds them (the admin's
        # `list_fields`), else all but the page's big ones (Django's rows may read any).
        fields = getattr(self.model_admin, "list_fields", None)
        if fields and self._fast_cells_possible():
            self.queryset = queryset.only(*fields)
        else:
            self.queryset = queryset.defer(*LIST_DEFERRED)
        try:
            super().get_results(request)
        finally:
            self.queryset = queryset
        if not self.result_count:  # counted none: nothing to fetch (an empty preset)
            self.result_list = self.result_list.none()

    def results_table(self):
        """The result table (Django's change_list_results template), or None if unsupported."""
        rows = self.fast_rows()
        if rows is None:
            return None
        headers = list(result_headers(self))
        opts = self.opts
        template = select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_list_results.html",
                f"admin/{opts.app_label}/change_list_results.html",
                "admin/change_list_results.html",
            ]
        )
        if rows:
            # Django's template prints every row alike: rendered with one stand-in row, whose
            # place the rows then take (unless the template prints rows some other way).
            context = self._results_context(headers, [ResultList(None, [_ROW])])
            table = template.render(context)
            stand_in = f"\n\n<tr>{_ROW}</tr>\n"
            if table.count(stand_in) == 1:
                rows_html = "".join([f"\n\n<tr>{row}</tr>\n" for row in rows])
                # The template's HTML, and the rows' (every value escaped).
                return mark_safe(table.replace(stand_in, rows_html))  # noqa: S308
        results = [ResultList(None, [row]) for row in rows]
        return template.render(self._results_context(headers, results))

    def _results_context(self, headers, results):
        return {
            "cl": self,
            "result_hidden_fields": [],
            "result_headers": headers,
            "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
            "results": results,
        }

    def _fast_cells_possible(self):
        if self.list_editable or self.is_popup or self.to_field:
            return False
        links = list(self.list_display_links or [])
        return len(links) == 1 and links[0] in self._fast_columns()

    def fast_rows(self):
        """[row html] for the page, or None where Django's own rows are needed."""
        if self.formset or not self._fast_cells_possible():
            return None
        cells = [self._cell(name) for name in self.list_display]
        if None in cells:
            return None
        return [SafeString("".join([cell(obj) for cell in cells])) for obj in self.result_list]

    def _fast_columns(self):
        """The admin's methods whose value is plain or safe text (display_for_value of it)."""
        return set(getattr(self.model_admin, "fast_columns", ()))

    @cached_property
    def _row_columns(self):
        """The admin's `row_columns()`: {column: function obj -> its value} for this page
        of rows, standing in for the list_display methods of those names."""
        row_columns = getattr(self.model_admin, "row_columns", None)
        return row_columns() if row_columns else {}

    def _column(self, name):
        return self._row_columns.get(name) or getattr(self.model_admin, name)

    def _cell(self, name):
        """A function obj -> the cell's html (as items_for_result makes it), or None."""
        model_admin = self.model_admin
        empty = model_admin.get_empty_value_display()
        if name == "action_checkbox":
            label = gettext("Select this object for an action - {}")
            return lambda obj: (
                f'<td class="action-checkbox"><input type="checkbox" '
                f'name="{helpers.ACTION_CHECKBOX_NAME}" value="{_escape(obj.pk)}" '
                f'class="action-select" aria-label="{label.format(_escape(obj))}"></td>'
            )
        if name in (self.list_display_links or []) and name in self._fast_columns():
            change = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[_PK],
                current_app=model_admin.admin_site.name,
            )
            change = add_preserved_filters(
                {"preserved_filters": self.preserved_filters, "opts": self.opts}, change
            )
            head, _, tail = (escape(part) for part in change.partition(_PK))
            value = _value_html(self._column(name), empty)
            return lambda obj: (
                f'<th class="field-{name}"><a href="{head}{int(obj.pk)}{tail}">'
                f"{value(obj)}</a></th>"
            )
        if name in self._fast_columns():
            value = _value_html(self._column(name), empty)
            return lambda obj: f'<td class="field-{name}">{value(obj)}</td>'
        try:
            field = self.opts.get_field(name)
        except FieldDoesNotExist:  # an admin method or attribute: Django's rows
            return None
        attname = field.attname
        if field.flatchoices:
            labels = {value: conditional_escape(label) for value, label in field.flatchoices}
            empty_html = conditional_escape(empty)
            return lambda obj: (
                f'<td class="field-{name}">{labels.get(getattr(obj, attname), empty_html)}</td>'
            )
        if field.get_internal_type() == "DateTimeField":
            # What formats.localize() does for a datetime, with the format looked up once.
            datetime_format = formats.get_format("DATETIME_FORMAT")

            def datetime_cell(obj):
                value = getattr(obj, attname)
                if value is None:
                    text = empty
                else:
                    text = dateformat.format(timezone.template_localtime(value), datetime_format)
                return f'<td class="field-{name} nowrap">{_escape(text)}</td>'

            return datetime_cell
        return None
