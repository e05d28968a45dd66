"""The browsable documentation: Swagger UI from static/vendor (no CDN), under the site's CSP
(no inline script or style: the settings travel as JSON data, read by static/js/api-docs.js)."""

from django.shortcuts import render
from django.urls import reverse
from ninja.openapi.docs import DocsBase


class LocalSwagger(DocsBase):
    template = "api/docs.html"

    def render_page(self, request, api, **kwargs):
        settings = {
            "url": reverse(f"{api.urls_namespace}:openapi-json", kwargs=kwargs),
            "deepLinking": True,
            "layout": "BaseLayout",
        }
        return render(request, self.template, {"api": api, "swagger_settings": settings})
