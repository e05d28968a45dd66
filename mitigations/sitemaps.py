"""The sitemap: the pages an anonymous reader may see."""

from django.contrib.auth.models import AnonymousUser
from django.contrib.sitemaps import Sitemap

from mitigations.models import Mitigation
from portal.lib import access


class MitigationSitemap(Sitemap):
    changefreq = "weekly"

    def items(self):
        # Crawlers are anonymous: the sitemap lists what an anonymous reader may see.
        return (
            Mitigation.objects.visible_to(AnonymousUser())
            .order_by("code")
            .only("slug", "public_updated_at")
        )

    def lastmod(self, item):
        return access.updated_at(item, AnonymousUser())
