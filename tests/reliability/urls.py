"""The portal's URLs plus one that fails, for the reliability tests' app servers only."""

from django.urls import path

from portal.urls import handler500
from portal.urls import urlpatterns as portal_urlpatterns

BOOM_PATH = "__reliability__/boom"


def boom(request):
    raise RuntimeError("deliberate failure for the reliability tests")


urlpatterns = [path(BOOM_PATH, boom), *portal_urlpatterns]

__all__ = ["handler500", "urlpatterns"]
