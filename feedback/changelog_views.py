"""The review made visible: a page's history, its old versions, recent changes and their feed.

Every page is looked up through the policy first (a draft is a 404 for those who may not see
it), and feedback/changelog.py never describes figures, drafts or feedback text. Not page-
cached: whether a change answered feedback follows the feedback's resolution, which the
catalogue's data version does not track.
"""

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from feedback import changelog
from feedback.citations import citation
from mitigations.exports import private_or_public
from mitigations.models import Mitigation, TaxonomyCategory
from mitigations.rendering import render_markdown


def _page(request, slug):
    visible = Mitigation.objects.visible_to(request.user).select_related("category")
    return get_object_or_404(visible, slug=slug)


def cite(request, mitigation, change, *, title=None, status=None):
    """The citation of one public version (`change`) of a page."""
    url = request.build_absolute_uri(changelog.version_url(mitigation.slug, change.number))
    return citation(
        title=title or mitigation.name,
        code=mitigation.code,
        status=status or mitigation.status,
        number=change.number,
        date=change.date,
        url=url,
    )


def changes(request, slug):
    mitigation = _page(request, slug)
    history = list(reversed(changelog.page_changes(mitigation)))
    return render(
        request,
        "feedback/changes.html",
        {"mitigation": mitigation, "changes": history},
    )


def version(request, slug, number):
    mitigation = _page(request, slug)
    found = changelog.page_version(mitigation, number)
    if found is None:
        raise Http404("No such version")
    record, change = found
    category = TaxonomyCategory.objects.filter(pk=record.category_id).first()
    latest = changelog.current_version(mitigation)
    return render(
        request,
        "feedback/version.html",
        {
            "mitigation": mitigation,
            "record": record,
            "change": change,
            "category": category,
            "additional_html": render_markdown(record.additional_information),
            "is_latest": latest is not None and latest.number == change.number,
            "figures": changelog.version_figures(mitigation, change),
            "citation": cite(request, mitigation, change, title=record.name, status=record.status),
        },
    )


def recent(request):
    items = changelog.recent_changes(Mitigation.objects.visible_to(request.user))
    return render(request, "feedback/recent_changes.html", {"changes": items})


class RecentChangesFeed(Feed):
    feed_type = Atom1Feed
    title = "Recent changes to the AI-risk mitigation database"
    subtitle = "What changed on which page, and whether it answered reader feedback."

    def __call__(self, request, *args, **kwargs):
        self.request_user = request.user
        return private_or_public(request, super().__call__(request, *args, **kwargs))

    def link(self):
        return reverse("changelog:recent")

    def items(self):
        return changelog.recent_changes(Mitigation.objects.visible_to(self.request_user))

    def item_title(self, item):
        return f"{item.page_name}: {item.summary}"

    def item_description(self, item):
        return f"Version {item.number} of {item.page_name}. {item.summary}."

    def item_link(self, item):
        return item.get_absolute_url()

    def item_guid(self, item):
        return f"{item.get_absolute_url()}#{item.record}"

    def item_pubdate(self, item):
        return item.date

    def item_updateddate(self, item):
        return item.date
