"""'Was this page helpful?' counts per page, the least helpful first (read-only)."""

from django.contrib import admin
from django.db.models import F
from django.utils.html import format_html

from feedback.models import PageHelpfulness


@admin.register(PageHelpfulness)
class PageHelpfulnessAdmin(admin.ModelAdmin):
    list_display = ["page", "yes", "no", "helpful_share_display", "updated_at"]
    list_select_related = ["mitigation"]
    search_fields = ["mitigation__code", "mitigation__name"]
    readonly_fields = ["mitigation", "yes", "no", "updated_at"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).worst_first()

    def get_ordering(self, request):
        # The least helpful share first (annotated by worst_first(), so not `ordering`).
        return [F("helpful_share").asc(nulls_last=True), F("answers").desc()]

    @admin.display(description="page")
    def page(self, obj):
        m = obj.mitigation
        return format_html('<a href="{}">{} {}</a>', m.get_absolute_url(), m.code, m.name)

    @admin.display(description="helpful", ordering="helpful_share")
    def helpful_share_display(self, obj):
        if obj.helpful_share is None:
            return "–"
        return f"{obj.helpful_share:.0%} of {obj.answers}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
