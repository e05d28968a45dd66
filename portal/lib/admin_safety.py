"""Admin pieces shared by the apps."""

from django import forms
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError


class SafeChangelistMixin:
    """A date drill-down with an impossible date (year 9999, month 13 ...) is a bad filter:
    the changelist says so (Django's ?e=1 redirect) instead of failing with a 500.

    `secret_fields`: fields no URL lookup may touch. Django lets a changelist filter on any
    field of its own model (`?token__startswith=a`), so an editor could read a secret one
    letter at a time from the result counts; a lookup on one of these is refused (400)."""

    secret_fields: tuple[str, ...] = ()

    def lookup_allowed(self, lookup, value, request=None):
        if lookup.split("__", 1)[0] in self.secret_fields:
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc


# --- Autocomplete fields -------------------------------------------------------------------


def _key_field(model_field):
    """The field of the related model that a relation's form values name (usually the pk)."""
    remote = model_field.remote_field
    opts = remote.model._meta
    return opts.get_field(getattr(remote, "field_name", None) or opts.pk.name)


def _is_key(field, value) -> bool:
    """Whether `value` (submitted text) can be a value of `field` at all."""
    text = str(value)
    if "\x00" in text:  # never a key; PostgreSQL cannot even compare it
        return False
    try:
        field.run_validators(field.to_python(text))
    except (ValidationError, ValueError, TypeError, OverflowError):
        return False
    return True


class _SelectedValuesOnly:
    """Re-rendering a bound form, Django's autocomplete widget looks the submitted values up
    in the database (`to_field__in=[...]`) to show them as selected options. A hand-made
    value that is not a valid key ("abc", "1e3", a NUL, an integer out of the column's range)
    makes that lookup raise: a 500 instead of the form with its "Select a valid choice"
    error. Such values cannot name an object, so they are left out of the lookup; the form
    field reports them as usual and nothing is saved."""

    def optgroups(self, name, value, attr=None):
        field = _key_field(self.field)
        return super().optgroups(name, [v for v in value if _is_key(field, v)], attr)


class SafeAutocompleteSelect(_SelectedValuesOnly, AutocompleteSelect):
    pass


class SafeAutocompleteSelectMultiple(_SelectedValuesOnly, AutocompleteSelectMultiple):
    pass


class SafeModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Django checks each value with `filter(pk=value)` (which only converts it) and then
    runs `pk__in=values`: an integer beyond the column's range passes the first and makes
    the query fail (SQLite: OverflowError). Here every value must fit the key field first;
    one that does not is the field's usual "not a valid value" error."""

    def __init__(self, queryset, *, key_field=None, **kwargs):
        self.key_field = key_field
        super().__init__(queryset, **kwargs)

    def _check_values(self, value):
        opts = self.queryset.model._meta
        field = self.key_field or (
            opts.get_field(self.to_field_name) if self.to_field_name else opts.pk
        )
        for pk in value:
            if not _is_key(field, pk):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                )
        return super()._check_values(value)


class SafeAutocompleteMixin:
    """For a ModelAdmin or an inline with `autocomplete_fields`: the autocomplete widgets
    and the many-to-many form field above instead of Django's, so that a crafted value is
    a validation error, not a 500. Every admin with autocomplete fields uses it (a test in
    tests/reliability/test_hostile_input.py checks the admin registry)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        if "form_class" not in kwargs:
            kwargs["form_class"] = SafeModelMultipleChoiceField
            kwargs["key_field"] = _key_field(db_field)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
