"""The admin site: Django's context for every admin page, the app list built lazily."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from portal.admin_site import PortalAdminSite

pytestmark = pytest.mark.django_db


def test_each_context_has_djangos_keys(editor):
    request = RequestFactory().get("/admin/")
    request.user = editor
    ours = PortalAdminSite().each_context(request)
    theirs = admin.AdminSite.each_context(PortalAdminSite(), request)
    assert set(ours) == set(theirs)
    assert list(ours["available_apps"]) == theirs["available_apps"]


def test_the_queue_does_not_build_the_app_list(editor_client, monkeypatch):
    built = []
    original = PortalAdminSite.get_app_list
    monkeypatch.setattr(
        PortalAdminSite,
        "get_app_list",
        lambda self, request, app_label=None: built.append(1) or original(self, request, app_label),
    )
    assert editor_client.get("/admin/feedback/feedback/").status_code == 200
    assert not built
    html = editor_client.get("/admin/").text  # the index and its sidebar still list the apps
    assert built and "/admin/feedback/feedback/" in html
