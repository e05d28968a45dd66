from django.contrib.sitemaps.views import sitemap
from django.urls import path, re_path

from mitigations import exports, feeds, sitemaps, views

app_name = "mitigations"

urlpatterns = [
    path("mitigations/", views.mitigation_list, name="list"),
    re_path(r"^mitigations/export\.(?P<fmt>csv|json)$", exports.export, name="export"),
    path("mitigations/feed.atom", feeds.RecentFeed(), name="feed"),
    path("mitigations/taxonomy/", views.taxonomy, name="taxonomy"),
    path("mitigations/taxonomy/<str:code>/", views.category_detail, name="category"),
    path("mitigations/sources/<slug:key>/", views.source_detail, name="source"),
    re_path(r"^mitigations/(?P<code>[A-Za-z]+[0-9]+)/$", views.mitigation_by_code, name="by_code"),
    path("mitigations/<slug:slug>/", views.mitigation_detail, name="detail"),
    path(
        "sitemap.xml",
        sitemap,
        {"sitemaps": {"mitigations": sitemaps.MitigationSitemap}},
        name="sitemap",
    ),
]
