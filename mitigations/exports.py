"""Catalogue downloads (CSV, JSON), the Atom feed and the sitemap: all through the policy."""

import csv
import io
import json

from django.contrib.auth.models import AnonymousUser
from django.contrib.sitemaps import Sitemap
from django.contrib.syndication.views import Feed
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.feedgenerator import Atom1Feed

from mitigations import dataset
from mitigations.models import Figure, Mitigation


def _catalogue(user):
    mitigations = Mitigation.objects.visible_to(user)
    figures = Figure.objects.visible_to(user).filter(mitigation__in=mitigations)
    return mitigations, figures


def _private_or_public(request, response):
    patch_vary_headers(response, ["Cookie"])
    if request.user.is_authenticated:
        patch_cache_control(response, private=True, no_store=True)
    else:
        patch_cache_control(response, public=True, max_age=60)
    return response


def export(request, fmt):
    mitigations, figures = _catalogue(request.user)
    tables = dataset.export_tables(mitigations, figures)
    if fmt == "json":
        body = json.dumps(tables, ensure_ascii=False, indent=1)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="mitigations.json"'
    elif fmt == "csv":
        response = HttpResponse(_wide_csv(tables), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="mitigations.csv"'
    else:
        raise Http404
    return _private_or_public(request, response)


FIGURE_COLUMNS = [c for c in dataset.COLUMNS["figures"] if c != "mitigation_id"]


def _wide_csv(tables) -> str:
    """Tidy CSV: one row per mitigation and visible figure (figure_* columns), or one row
    with empty figure columns for a mitigation without visible figures."""
    by_mitigation = {}
    for figure in tables["figures"]:
        by_mitigation.setdefault(figure["mitigation_id"], []).append(figure)
    columns = dataset.COLUMNS["mitigations"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns + [f"figure_{c}" for c in FIGURE_COLUMNS])
    for row in tables["mitigations"]:
        base = [row[c] for c in columns]
        figures = by_mitigation.get(row["id"]) or [dict.fromkeys(FIGURE_COLUMNS, "")]
        for figure in figures:
            writer.writerow(base + [figure[c] for c in FIGURE_COLUMNS])
    return out.getvalue()


class RecentFeed(Feed):
    feed_type = Atom1Feed
    title = "Recently updated AI-risk mitigations"
    subtitle = "Pages of the mitigation database, newest changes first."

    def __call__(self, request, *args, **kwargs):
        self.request_user = request.user
        return _private_or_public(request, super().__call__(request, *args, **kwargs))

    def link(self):
        return reverse("mitigations:list")

    def items(self):
        return (
            Mitigation.objects.visible_to(self.request_user)
            .select_related("category")
            .order_by("-updated_at")[:50]
        )

    def item_title(self, item):
        return item.name

    def item_description(self, item):
        return item.definition

    def item_updateddate(self, item):
        return item.updated_at

    def item_pubdate(self, item):
        return item.created_at

    def item_categories(self, item):
        return [f"{item.category.code} {item.category.name}"]


class MitigationSitemap(Sitemap):
    changefreq = "weekly"

    def items(self):
        # Crawlers are anonymous: the sitemap lists what an anonymous reader may see.
        return (
            Mitigation.objects.visible_to(AnonymousUser())
            .order_by("code")
            .only("slug", "updated_at")
        )

    def lastmod(self, item):
        return item.updated_at
