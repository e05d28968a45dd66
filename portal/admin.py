"""Admin pieces shared by the apps."""

from django.contrib.admin.options import IncorrectLookupParameters


class SafeChangelistMixin:
    """A date drill-down with an impossible date (year 9999, month 13 ...) is a bad filter:
    the changelist says so (Django's ?e=1 redirect) instead of failing with a 500."""

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc
