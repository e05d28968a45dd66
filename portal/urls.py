from django.contrib import admin
from django.urls import include, path, re_path

from mitigations import api
from mitigations import views as mitigation_views
from portal import views

urlpatterns = [
    path("", mitigation_views.home, name="home"),
    path("", include("feedback.changelog_urls")),
    path("", include("mitigations.urls")),
    path("feedback/", include("feedback.urls")),
    path("accounts/", include("portal.accounts.urls")),
    path("api/v1/", api.urls()),
    re_path(r"^api/(?P<rest>.*)$", api.not_found),
    path("admin/", admin.site.urls),
    path("about/", views.about, name="about"),
    path("healthz", views.healthz, name="healthz"),
]

admin.site.site_header = "Mitigation portal administration"
admin.site.site_title = "Mitigation portal admin"

handler500 = "portal.views.server_error"
