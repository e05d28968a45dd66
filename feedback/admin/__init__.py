"""The feedback admin: the moderation queue, registered here.

feedback_admin  the ModelAdmin: permissions, columns, actions, the reply page
filters         the sidebar filters (page code, taxonomy category, submitter)
rows            the changelist's HTML built in Python (a benchmarked speed shortcut)
diff            the word diff of the page since the feedback's version
export          the CSV export
helpfulness     "Was this page helpful?" counts, the least helpful page first
"""

from django.contrib import admin

from feedback.admin.diff import DIFF_FIELDS, page_changes, word_diff
from feedback.admin.export import CSV_COLUMNS, csv_response
from feedback.admin.feedback_admin import (
    COUNT_CAP,
    STATUS_COUNTS_KEY,
    STATUS_COUNTS_SECONDS,
    CappedCountPaginator,
    FeedbackAdmin,
    ReplyForm,
    status_counts,
)
from feedback.admin.filters import CategoryFilter, InArray, PageFilter, SubmitterFilter
from feedback.admin.helpfulness import PageHelpfulnessAdmin
from feedback.admin.rows import (
    LIST_DEFERRED,
    ActionSelect,
    FeedbackChangeList,
    PageUrls,
    truncate_chars,
)
from feedback.models import Feedback, ReplyTemplate

admin.site.register(Feedback, FeedbackAdmin)


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(admin.ModelAdmin):
    """The canned replies offered on the feedback change form (per kind of feedback)."""

    list_display = ["title", "kind", "resolution", "position"]
    list_editable = ["position"]
    list_filter = ["kind"]
    search_fields = ["title", "text"]


__all__ = [
    "COUNT_CAP",
    "ActionSelect",
    "CSV_COLUMNS",
    "DIFF_FIELDS",
    "LIST_DEFERRED",
    "STATUS_COUNTS_KEY",
    "STATUS_COUNTS_SECONDS",
    "CappedCountPaginator",
    "CategoryFilter",
    "FeedbackAdmin",
    "FeedbackChangeList",
    "InArray",
    "PageHelpfulnessAdmin",
    "PageFilter",
    "PageUrls",
    "ReplyForm",
    "SubmitterFilter",
    "csv_response",
    "page_changes",
    "status_counts",
    "truncate_chars",
    "word_diff",
]
