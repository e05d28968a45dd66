"""Releasing figures and pages from the admin: lift an embargo, mark figures final, set an
embargo date, publish a page or mark it still being polished.

Admin actions on Figures and on Mitigations (on a page: all its figures). Every change is a
save() of the row, so that simple_history records it with the editor (and a reason), the
page cache's data version moves on, and nothing bypasses the models. Whether a figure is
visible stays decided by portal/lib/access.py (`restricted_q`, `embargoed_q`); the filters
here only describe the embargo dates.
"""

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.template.response import TemplateResponse

from mitigations.models import Figure, Mitigation
from portal.lib import access


def _save_all(objects, reason, user, **changes):
    """Apply `changes` to each object that differs, with history; the number changed."""
    changed = 0
    with transaction.atomic():
        for obj in objects:
            if all(getattr(obj, field) == value for field, value in changes.items()):
                continue
            for field, value in changes.items():
                setattr(obj, field, value)
            obj._change_reason = reason
            obj._history_user = user
            obj.save()
            changed += 1
    return changed


def _figures_of(model_admin, request, queryset):
    """The figures an action applies to: the selected ones, or those of the selected pages
    (as far as the policy lets the editor see them)."""
    if queryset.model is Figure:
        figures = queryset
    else:
        figures = Figure.objects.filter(mitigation__in=queryset.values("pk"))
    return access.visible_figures(figures, request.user).select_for_update()


def _say(model_admin, request, count, what):
    model_admin.message_user(
        request, f"{count} figure{'s' if count != 1 else ''} {what}.", messages.SUCCESS
    )


@admin.action(description="Lift embargo now", permissions=["change"])
def lift_embargo_now(model_admin, request, queryset):
    today = access.today()
    with transaction.atomic():
        figures = _figures_of(model_admin, request, queryset).filter(access.embargoed_q())
        count = _save_all(figures, "Embargo lifted", request.user, embargo_until=today)
    _say(model_admin, request, count, "released from embargo (it ends today)")


@admin.action(description="Mark final (not preliminary)", permissions=["change"])
def mark_final(model_admin, request, queryset):
    with transaction.atomic():
        figures = _figures_of(model_admin, request, queryset).filter(preliminary=True)
        count = _save_all(figures, "Marked final", request.user, preliminary=False)
    _say(model_admin, request, count, "marked final")


class EmbargoDateForm(forms.Form):
    embargo_until = forms.DateField(
        label="Embargo until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The figures are withheld from readers until this day (they are public from "
        "its start). Leave empty to remove the embargo.",
    )

    def clean_embargo_until(self):
        value = self.cleaned_data["embargo_until"]
        if value is not None and not datetime.date(2000, 1, 1) <= value <= datetime.date(
            2999, 12, 31
        ):
            raise forms.ValidationError("Choose a date between 2000 and 2999.")
        return value


@admin.action(description="Set embargo date…", permissions=["change"])
def set_embargo_date(model_admin, request, queryset):
    """An intermediate page asks for the date, then applies it to the figures."""
    if "apply" in request.POST:
        form = EmbargoDateForm(request.POST)
        if form.is_valid():
            until = form.cleaned_data["embargo_until"]
            reason = f"Embargo set to {until:%Y-%m-%d}" if until else "Embargo removed"
            with transaction.atomic():
                figures = _figures_of(model_admin, request, queryset)
                count = _save_all(figures, reason, request.user, embargo_until=until)
            _say(model_admin, request, count, reason[0].lower() + reason[1:])
            return None
    else:
        form = EmbargoDateForm()
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Set the embargo date",
        "opts": opts,
        "form": form,
        "action": "set_embargo_date",
        "objects": list(queryset[:20]),
        "count": queryset.count(),
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
    }
    return TemplateResponse(request, "admin/mitigations/embargo_action.html", context)


def _set_status(model_admin, request, queryset, status, reason):
    with transaction.atomic():
        pages = queryset.select_for_update()
        count = _save_all(pages, reason, request.user, status=status)
    model_admin.message_user(
        request,
        f"{count} page{'s' if count != 1 else ''} {reason.lower()}.",
        messages.SUCCESS,
    )


@admin.action(description="Publish", permissions=["change"])
def publish(model_admin, request, queryset):
    _set_status(model_admin, request, queryset, Mitigation.Status.PUBLISHED, "Published")


@admin.action(description="Mark still being polished", permissions=["change"])
def mark_polishing(model_admin, request, queryset):
    _set_status(
        model_admin, request, queryset, Mitigation.Status.POLISHING, "Marked still being polished"
    )


# --- Forward-looking embargo filters -------------------------------------------------------

EMBARGO_CHOICES = [
    ("active", "Embargo active"),
    ("7", "Lifts within 7 days"),
    ("30", "Lifts within 30 days"),
    ("lifted", "Lifted"),
    ("none", "No embargo"),
]


def embargo_q(value, prefix=""):
    """The figures (fields under `prefix`) in one of EMBARGO_CHOICES, or None."""
    today = access.today()
    field = f"{prefix}embargo_until"
    match value:
        case "active":
            return Q(**{f"{field}__gt": today})
        case "7" | "30":
            until = today + datetime.timedelta(days=int(value))
            return Q(**{f"{field}__gt": today, f"{field}__lte": until})
        case "lifted":
            return Q(**{f"{field}__lte": today})
        case "none":
            return Q(**{f"{field}__isnull": True})
    return None


class EmbargoFilter(admin.SimpleListFilter):
    """Figures by embargo, looking forward: active, lifting soon, lifted."""

    title = "embargo"
    parameter_name = "embargo"

    def lookups(self, request, model_admin):
        return EMBARGO_CHOICES

    def queryset(self, request, queryset):
        condition = embargo_q(self.value())
        return queryset if condition is None else queryset.filter(condition)


class PageEmbargoFilter(EmbargoFilter):
    """Pages with at least one figure in that embargo state."""

    title = "figures' embargo"

    def lookups(self, request, model_admin):
        return [c for c in EMBARGO_CHOICES if c[0] != "none"]

    def queryset(self, request, queryset):
        condition = embargo_q(self.value())
        if condition is None:
            return queryset
        figures = Figure.objects.filter(condition, mitigation=OuterRef("pk"))
        return queryset.filter(Exists(figures))


class PagePreliminaryFilter(admin.SimpleListFilter):
    title = "preliminary figures"
    parameter_name = "preliminary"

    def lookups(self, request, model_admin):
        return [("yes", "Has preliminary figures"), ("no", "All figures final")]

    def queryset(self, request, queryset):
        preliminary = Exists(Figure.objects.filter(preliminary=True, mitigation=OuterRef("pk")))
        match self.value():
            case "yes":
                return queryset.filter(preliminary)
            case "no":
                return queryset.filter(~preliminary)
        return queryset
