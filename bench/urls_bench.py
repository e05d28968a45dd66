"""The portal's URLs plus `/bench/baseline`: the benchmark's reference point.

The baseline is the least a Django view can do (no database, no template) served by the same
gunicorn, WSGI handler and middleware stack as every portal page, so the ratio of a page's
throughput to it is the cost of the page itself.
"""

from django.http import HttpResponse
from django.urls import path

from portal.urls import handler500  # noqa: F401
from portal.urls import urlpatterns as portal_urlpatterns


def baseline(request):
    return HttpResponse(b"ok\n", content_type="text/plain")


urlpatterns = [path("bench/baseline", baseline, name="bench-baseline"), *portal_urlpatterns]
