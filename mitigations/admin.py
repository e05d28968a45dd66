"""Admin for the catalogue: editing, history, the restricted-figure audit and dataset upload.

The Mitigation and Figure querysets go through portal/lib/access.py like every other channel
(editors see everything today; the policy decides, not this module). The dataset upload page
runs the same `import_dataset` as the `import_mitigations` command.
"""

import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from mitigations import import_review, importer, release
from mitigations.dataset import LIST_SEPARATOR
from mitigations.models import (
    TAXONOMY_CODE,
    Actor,
    Figure,
    FigureView,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)
from portal.lib import access
from portal.lib.admin_safety import SafeAutocompleteMixin, SafeChangelistMixin

IMPORT_PERMISSION = "mitigations.add_mitigation"
# settings.DATASET_UPLOAD_MAX_BYTES bounds an upload (the request body limit, MAX_REQUEST_BODY,
# is enforced before it by portal.middleware.RequestLimitsMiddleware).
MAX_PROBLEMS_SHOWN = 5000


# --- Taxonomy, facets, sources -----------------------------------------------------------


class TaxonomyCategoryForm(forms.ModelForm):
    class Meta:
        model = TaxonomyCategory
        fields = ("code", "name", "description")

    def clean_code(self):
        # save() derives the parent from the code: check here instead of failing there.
        code = self.cleaned_data["code"].strip()
        if not TAXONOMY_CODE.fullmatch(code):
            raise forms.ValidationError("Use a code like 1, 1.2 or 1.2.3.")
        parent = TaxonomyCategory.parent_code(code)
        if parent and not TaxonomyCategory.objects.filter(code=parent).exists():
            raise forms.ValidationError(f"The parent category {parent} does not exist yet.")
        return code


class FacetForm(forms.ModelForm):
    def clean_name(self):
        # save() derives the slug from the name; it must be usable and unique.
        name = self.cleaned_data["name"].strip()
        slug = self._meta.model.slug_for(name)
        if not slug:
            raise forms.ValidationError("The name needs at least one letter or digit.")
        if LIST_SEPARATOR in name:
            raise forms.ValidationError("The name cannot contain ';' (imports use it in lists).")
        clash = self._meta.model.objects.filter(slug=slug).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(f"“{clash}” already has the same URL slug ({slug}).")
        return name


@admin.register(TaxonomyCategory)
class TaxonomyCategoryAdmin(admin.ModelAdmin):
    form = TaxonomyCategoryForm
    list_display = ("code", "name", "level", "parent")
    list_display_links = ("code", "name")
    list_filter = ("level",)
    list_select_related = ("parent",)
    search_fields = ("code", "name")
    ordering = ("sort_key",)
    fields = ("code", "name", "description", "parent", "level")
    readonly_fields = ("parent", "level")

    def get_readonly_fields(self, request, obj=None):
        # Codes are stable identifiers (URLs, imports, feedback proposals): fixed once created.
        return (*self.readonly_fields, "code") if obj else self.readonly_fields


class FacetAdmin(admin.ModelAdmin):
    form = FacetForm
    list_display = ("name", "position", "slug")
    list_editable = ("position",)
    search_fields = ("name",)
    fields = ("name", "slug", "description", "position")
    readonly_fields = ("slug",)


admin.site.register(LifecycleStage, FacetAdmin)
admin.site.register(Actor, FacetAdmin)
admin.site.register(RmfFunction, FacetAdmin)


@admin.register(SourceDocument)
class SourceDocumentAdmin(admin.ModelAdmin):
    list_display = ("key", "title", "year", "authors_display")
    list_filter = ("year",)
    search_fields = ("key", "title", "doi")
    show_full_result_count = False


# --- Mitigations and figures ---------------------------------------------------------------


class FigureInline(admin.TabularInline):
    # Status columns first: what a reader may see is the first thing an editor checks.
    model = Figure
    extra = 0
    fields = (
        "preliminary", "embargo_until", "key", "label", "value", "unit", "risk_area",
        "sample_size", "position",
    )  # fmt: skip
    ordering = ("position", "key")
    show_change_link = True

    def get_queryset(self, request):
        return access.visible_figures(super().get_queryset(request), request.user)


class PolicyHistoryMixin:
    """History pages only for objects the policy lets the user see (404 otherwise)."""

    def history_view(self, request, object_id, extra_context=None):
        visible = self.get_queryset(request).filter(pk=object_id)
        if self.model._default_manager.filter(pk=object_id).exists() and not visible.exists():
            raise Http404
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(Mitigation)
class MitigationAdmin(
    SafeAutocompleteMixin, SafeChangelistMixin, PolicyHistoryMixin, SimpleHistoryAdmin
):
    list_display = ("code", "name", "category", "status", "classified_by", "updated_at")
    list_display_links = ("code", "name")
    list_filter = (
        "status",
        release.PageEmbargoFilter,
        release.PagePreliminaryFilter,
        "classified_by",
        ("category", admin.RelatedOnlyFieldListFilter),
        "lifecycle_primary",
        "actor_primary",
        "rmf_primary",
    )
    list_select_related = ("category",)
    search_fields = ("code", "name", "definition")
    date_hierarchy = "updated_at"
    show_full_result_count = False
    list_per_page = 50
    autocomplete_fields = (
        "category",
        "lifecycle_primary", "lifecycle_other",
        "actor_primary", "actor_other",
        "rmf_primary", "rmf_other",
        "sources",
        "related",
    )  # fmt: skip
    readonly_fields = ("created_at", "updated_at", "public_updated_at", "public_version")
    fieldsets = (
        (None, {"fields": ("code", "name", "slug", "status", "category")}),
        ("Text", {"fields": ("definition", "additional_information")}),
        ("Classification", {"fields": ("classified_by", "reasoning")}),
        (
            "Facets",
            {
                "fields": (
                    ("lifecycle_primary", "lifecycle_other"),
                    ("actor_primary", "actor_other"),
                    ("rmf_primary", "rmf_other"),
                )
            },
        ),
        ("Links", {"fields": ("sources", "related")}),
        (
            "Dates",
            {
                "fields": ("created_at", "updated_at", "public_updated_at", "public_version"),
                "description": "“Updated” counts every change; “public updated” and the "
                "public version only changes readers can see (not preliminary or "
                "embargoed figures).",
            },
        ),
    )
    inlines = [FigureInline]
    history_list_display = ["status"]
    change_list_template = "admin/mitigations/mitigation/change_list.html"
    actions = [
        release.publish,
        release.mark_polishing,
        release.lift_embargo_now,
        release.mark_final,
        release.set_embargo_date,
    ]

    class Media:
        css = {"all": ["css/catalogue_admin.css"]}

    def get_queryset(self, request):
        return access.visible_mitigations(super().get_queryset(request), request.user)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=name),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "can_import": request.user.has_perm(IMPORT_PERMISSION),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        """Upload and check (a dry run lists what would change), then "Import these files
        now" applies exactly the checked files; or upload and import at once."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        report, problems, token, staged_names = None, None, None, []
        form = DatasetUploadForm()
        if request.method == "POST" and "apply_token" in request.POST:
            try:
                files, staged = import_review.unstage(request.POST["apply_token"], request.user)
            except import_review.StagedImportGone:
                messages.error(
                    request,
                    "These files can no longer be imported (the check is more than an hour "
                    "old, or the form was changed): choose the files again. Nothing was "
                    "imported.",
                )
            else:
                report, problems = _run_import({"files": files, "dry_run": False}, request.user)
                staged.delete()
                if report is not None:
                    messages.success(
                        request, f"Dataset imported: {report.changed} rows created or updated."
                    )
        elif request.method == "POST":
            form = DatasetUploadForm(request.POST, request.FILES)
            if form.is_valid():
                report, problems = _run_import(form.cleaned_data, request.user)
                if report is not None and not report.dry_run:
                    messages.success(
                        request, f"Dataset imported: {report.changed} rows created or updated."
                    )
                elif report is not None and report.changed:
                    token = import_review.stage(form.cleaned_data["files"], request.user)
                    staged_names = [f.name for f in form.cleaned_data["files"]]
        edits = import_review.admin_edits(report.pages) if report and report.dry_run else {}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import a dataset",
            "form": form,
            "report": report,
            "pages": _page_rows(report, edits) if report else [],
            "edit_count": len(edits),
            "apply_token": token,
            "staged_names": staged_names,
            "problems": problems[:MAX_PROBLEMS_SHOWN] if problems else problems,
            "problem_rows": _problem_rows(problems[:MAX_PROBLEMS_SHOWN]) if problems else [],
            "problem_count": len(problems or []),
            "max_shown": MAX_PROBLEMS_SHOWN,
            "changelist_url": reverse("admin:mitigations_mitigation_changelist"),
            "upload_limit_mb": settings.DATASET_UPLOAD_MAX_BYTES // 2**20,
        }
        return TemplateResponse(request, "admin/mitigations/mitigation/import.html", context)


def _page_rows(report, edits, limit=MAX_PROBLEMS_SHOWN):
    """The report's changed pages for the template: links, field changes, admin edits."""
    rows = []
    for page in report.pages[:limit]:
        edit = edits.get(page.pk)
        rows.append(
            {
                "page": page,
                "admin_url": (
                    reverse("admin:mitigations_mitigation_change", args=[page.pk])
                    if page.pk
                    else None
                ),
                "changes": import_review.field_changes(page),
                "edit": edit,
            }
        )
    if not report.dry_run:
        # Imported: link each page where it now lives.
        slugs = dict(
            Mitigation.objects.filter(code__in=[r["page"].code for r in rows]).values_list(
                "code", "slug"
            )
        )
        for row in rows:
            slug = slugs.get(row["page"].code)
            row["public_url"] = reverse("mitigations:detail", args=[slug]) if slug else None
    return rows


def _problem_rows(problems):
    return [import_review.spreadsheet_problem(p) for p in problems]


@admin.register(Figure)
class FigureAdmin(SafeAutocompleteMixin, PolicyHistoryMixin, SimpleHistoryAdmin):
    list_display = (
        "preliminary", "embargo_until", "mitigation", "key", "label", "value", "unit",
        "risk_area", "sample_size",
    )  # fmt: skip
    list_display_links = ("mitigation", "key")
    list_filter = ("preliminary", release.EmbargoFilter, "risk_area", "mitigation__status")
    actions = [release.lift_embargo_now, release.mark_final, release.set_embargo_date]
    list_select_related = ("mitigation",)
    search_fields = ("mitigation__code", "key", "label", "risk_area")
    autocomplete_fields = ("mitigation",)
    show_full_result_count = False
    history_list_display = ["value", "preliminary", "embargo_until"]

    def get_queryset(self, request):
        return access.visible_figures(super().get_queryset(request), request.user)


@admin.register(FigureView)
class FigureViewAdmin(SafeChangelistMixin, admin.ModelAdmin):
    """Read-only audit: who saw the restricted figures of which page on which day."""

    list_display = ("day", "user", "mitigation", "views", "first_seen", "last_seen")
    list_filter = ("day", ("user", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("user", "mitigation")
    search_fields = ("user__username", "mitigation__code", "mitigation__name")
    date_hierarchy = "day"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Dataset upload ------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        items = [item for item in data if item] if isinstance(data, list | tuple) else [data]
        return [single(item, initial) for item in items] or [single(None, initial)]


class DatasetUploadForm(forms.Form):
    files = MultipleFileField(
        label="Dataset",
        help_text=(
            "A .zip of CSV files, one .json file, or one or more .csv files "
            "(mitigations.csv, figures.csv, …) in the import format."
        ),
    )
    dry_run = forms.BooleanField(
        required=False,
        initial=True,
        label="Dry run",
        help_text="Check the data and count what would change, without writing anything.",
    )

    def clean_files(self):
        files = self.cleaned_data["files"]
        total = sum(f.size for f in files)
        if total > settings.DATASET_UPLOAD_MAX_BYTES:
            limit_mb = settings.DATASET_UPLOAD_MAX_BYTES // 2**20
            raise forms.ValidationError(
                f"The upload is {total / 2**20:.1f} MB; at most {limit_mb} MB "
                "can be imported here (use the import_mitigations command for larger datasets)."
            )
        return files


def _run_import(data, user):
    """(report, None) or (None, problems) for an uploaded dataset; temp files are removed."""
    with tempfile.TemporaryDirectory(prefix="dataset-upload-") as workdir:
        try:
            target = importer.dataset_from_upload(data["files"], Path(workdir))
            report = importer.import_dataset(target, dry_run=data["dry_run"], user=user)
        except importer.DatasetError as exc:
            return None, exc.problems
    return report, None
