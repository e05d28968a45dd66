"""The read API (/api/v1/): endpoints in views, fields in schemas, HTTP rules in responses."""

from mitigations.api.views import api, not_found, urls

__all__ = ["api", "not_found", "urls"]
