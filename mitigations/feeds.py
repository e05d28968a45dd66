"""The Atom feed of recently updated pages, through the policy (what the reader may see)."""

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from mitigations.exports import private_or_public
from mitigations.models import Mitigation
from portal.lib import access


class PlainTextAtomFeed(Atom1Feed):
    """Atom with plain-text summaries: a definition is text, not HTML, and is declared so
    (Django's Atom1Feed declares every summary `type="html"`, so a reader would render
    markup someone typed into a definition)."""

    def add_item_elements(self, handler, item):
        description = item.get("description")
        super().add_item_elements(handler, {**item, "description": None})
        if description is not None:
            handler.addQuickElement("summary", description, {"type": "text"})


class RecentFeed(Feed):
    feed_type = PlainTextAtomFeed
    title = "Recently updated AI-risk mitigations"
    subtitle = "Pages of the mitigation database, newest changes first."

    def __call__(self, request, *args, **kwargs):
        self.request_user = request.user
        return private_or_public(request, super().__call__(request, *args, **kwargs))

    def link(self):
        return reverse("mitigations:list")

    def items(self):
        return (
            Mitigation.objects.visible_to(self.request_user)
            .select_related("category")
            .order_by(f"-{access.updated_field(self.request_user)}")[:50]
        )

    def item_title(self, item):
        return item.name

    def item_description(self, item):
        return item.definition

    def item_updateddate(self, item):
        return access.updated_at(item, self.request_user)

    def item_pubdate(self, item):
        return item.created_at

    def item_categories(self, item):
        return [f"{item.category.code} {item.category.name}"]
