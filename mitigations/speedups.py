"""The list pages' speed shortcuts: Django's own output, made for less.

Justified by the benchmark scenario `search_reader_cold` of bench/drive.py ("search, 2
words, page-cache misses": the list page rendered in full, 680 different searches as a
reader; bench/README.md "Renderings") and by every first rendering of `list`,
`list_filtered`, `list_page50`, `search_common` and `search_rare` before the page cache
holds it (`.venv/bin/python bench/profile_page.py /mitigations/` shows where the time goes).
With 10,000 mitigations and ~550 options in the filter selects:

* `FastSelect` renders forms.Select's HTML without a template per option (select_option.html
  and attrs.html cost more than the rest of the page);
* `ResultsPaginator` gives the results template only the page numbers it links to instead
  of walking all 500.

tests/mitigations/test_speedups.py proves each matches Django's own path: FastSelect's HTML
is forms.Select's for the same choices and value; the paginator's pages, counts and links
are Paginator's.
"""

from django import forms
from django.core.paginator import Paginator
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe


def _attrs(attrs) -> str:
    """django/forms/widgets/attrs.html in Python (`stringformat:'s'` keeps safe strings)."""
    return "".join(
        f" {conditional_escape(name)}"
        if value is True
        else f' {conditional_escape(name)}="{conditional_escape(str(value))}"'
        for name, value in attrs.items()
        if value is not False
    )


class FastSelect(forms.Select):
    """forms.Select producing the same HTML without a template render per option.

    A subclass or instance with its own templates renders through them, as Select does.
    """

    def render(self, name, value, attrs=None, renderer=None):
        if (self.template_name, self.option_template_name) != (
            forms.Select.template_name,
            forms.Select.option_template_name,
        ):
            return super().render(name, value, attrs, renderer)
        widget = self.get_context(name, value, attrs)["widget"]
        out = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                out.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in options:
                out.append(
                    f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                    f"{_attrs(option['attrs'])}>"
                    f"{conditional_escape(option['label'])}</option>\n"
                )
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return mark_safe("".join(out))  # noqa: S308 - every piece above is escaped


class ResultsPaginator(Paginator):
    """A paginator whose `page_range` holds only the page numbers the results template links
    to: the first, the last and two either side of the current page (`current`).

    The template walks `page_range` and shows exactly those; with 10,000 mitigations that
    walk over 400 numbers cost more than rendering the results themselves.
    """

    current = 1

    @property
    def page_range(self):
        last, current = self.num_pages, self.current
        return sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
