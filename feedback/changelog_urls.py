"""Public history URLs (beside the catalogue's own: /mitigations/<slug>/changes/, …)."""

from django.urls import path

from feedback import changelog_views

app_name = "changelog"

urlpatterns = [
    path("mitigations/changes/", changelog_views.recent, name="recent"),
    path("mitigations/changes.atom", changelog_views.RecentChangesFeed(), name="feed"),
    path("mitigations/<slug:slug>/changes/", changelog_views.changes, name="changes"),
    path("mitigations/<slug:slug>/v/<int:number>/", changelog_views.version, name="version"),
]
