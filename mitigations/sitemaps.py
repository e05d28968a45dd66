"""The sitemap: the pages an anonymous reader may see."""

from django.contrib.auth.models import AnonymousUser
from django.contrib.sitemaps import Sitemap

from mitigations.models import Mitigation


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
