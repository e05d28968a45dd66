"""The feedback form (used on every mitigation page and on the general feedback page)."""

import copy
import functools
import re
import secrets
import unicodedata

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Fieldset, Layout
from crispy_forms.utils import render_crispy_form
from django import forms
from django.conf import settings
from django.core import signing
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from feedback import antispam
from feedback.models import Feedback
from mitigations.models import TaxonomyCategory
from portal.lib import access
from portal.lib.page_cache import per_data_version

PAGE_SALT = "feedback.page_context-version"
COMMENT_MAX = 5000
CODE_RE = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")
DATALIST_ID = "fb-taxonomy-codes"
UNREADABLE = "\ufffd"

# Where the per-request values go in a rendered form skeleton (see FeedbackForm.fields_html):
# random per process, letters and digits only (they pass escaping unchanged), and never
# shown to anyone, so no user text can contain them.
_SLOT = f"fbslot{secrets.token_hex(12)}"
_SLOTTED = ("stamp", "page")
_SKELETONS: dict = {}


def _page_signer(mitigation):
    # The page's database id is in the salt, not in the value: a form for one page does not
    # fit another, and the HTML shows no id.
    return signing.Signer(salt=f"{PAGE_SALT}:{mitigation.pk}", algorithm="sha256")


def sign_page(mitigation) -> str:
    """The version of the page the reader saw, as an opaque token for the form.

    `<public version>.<HMAC>`: the public version counts the changes readers can see on this
    page only (no database id, no global counter, nothing that moves when a draft or a
    hidden figure is saved); the HMAC binds it to the page and keeps it from being altered.
    """
    return _page_signer(mitigation).sign(str(mitigation.public_version)).replace(":", ".", 1)


def read_page(value, mitigation):
    """{"version": history id of the page as the reader saw it} for a token of this page,
    or None when the value is not ours. The history id stays internal (the admin's diff)."""
    if not isinstance(value, str) or len(value) > 200:
        return None
    try:
        version = _page_signer(mitigation).unsign(value.replace(".", ":", 1))
    except signing.BadSignature:
        return None
    if not version.isascii() or not version.isdigit() or len(version) > 9:
        return None
    version = int(version)
    if version > mitigation.public_version:
        return None
    return {"version": _history_id_for(mitigation, version)}


@per_data_version
def _history_id_for(mitigation, public_version):
    """mitigation.history_id_for(public_version), once per page (instances are keyed by
    their id), version and data version: a page gets history records only when it is
    saved, and every save in the catalogue changes the data version
    (mitigations/invalidation.py)."""
    return mitigation.history_id_for(public_version)


def has_control_characters(text: str) -> bool:
    """Line breaks (any kind: CR, LF, U+2028, U+2029, NEL, …), tabs and other control or
    format characters (bidirectional overrides included; zero-width joiners, which some
    scripts need, are allowed)."""
    return any(
        unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\u200c\u200d"
        for c in text
    )


class FeedbackForm(forms.Form):
    section = forms.ChoiceField(
        label="Which part is it about?",
        choices=Feedback.Section.choices,
        initial=Feedback.Section.OTHER,
    )
    # A page's form has no default part: the reader chooses it, or the link they followed
    # ("Comment on this section") chose it. The empty choice is the prompt.
    NO_PART = ("", "Choose the part of the page…")
    kind = forms.ChoiceField(label="What kind of feedback is it?", choices=Feedback.Kind.choices)
    proposed_category = forms.CharField(
        label="Category you would propose (optional)",
        required=False,
        max_length=200,
        help_text="For a classification disagreement: a taxonomy code such as 1.1.3.",
        widget=forms.TextInput(
            attrs={"list": DATALIST_ID, "autocomplete": "off", "inputmode": "decimal"}
        ),
    )
    comment = forms.CharField(
        label="Your feedback",
        max_length=COMMENT_MAX,
        help_text=f"Plain text, up to {COMMENT_MAX} characters and {settings.FEEDBACK_MAX_LINKS} "
        "links.",
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    name = forms.CharField(label="Your name (optional)", required=False, max_length=120)
    email = forms.EmailField(label="Your email (optional)", required=False, max_length=254)
    contact_consent = forms.BooleanField(
        label="You may email me about this feedback (we keep the address only if you tick this)",
        required=False,
    )
    website = forms.CharField(
        label="Leave this field empty",
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    stamp = forms.CharField(widget=forms.HiddenInput, required=False)
    page = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, user, mitigation=None, **kwargs):
        kwargs.setdefault("auto_id", "fb-%s")
        super().__init__(*args, **kwargs)  # the fields shared, not copied: see _SharedFields
        self.user = user
        self.mitigation = mitigation
        self.signed_in = bool(user and user.is_authenticated)
        self.fields["section"] = _section_field(
            access.can_see_restricted_figures(user), mitigation is not None
        )
        hidden = ["stamp", "page"]
        if mitigation is None:
            del self.fields["page"]
            hidden = ["stamp"]
        contact = ["name", "email", "contact_consent"]
        if self.signed_in:
            # Signed-in users are attributed from their account.
            del self.fields["name"], self.fields["email"]
            contact = []
            if user.email:
                self.fields["contact_consent"] = _account_consent_field()
                contact = ["contact_consent"]
            else:
                del self.fields["contact_consent"]
        self._contact, self._hidden = contact, hidden

    @cached_property
    def helper(self):
        """The crispy-forms layout, built only when the form is rendered (not for a valid POST).

        crispy-forms sets attributes on the widgets it lays out: from here on the form has
        copies of its fields of its own (see _SharedFields)."""
        self.fields = copy.deepcopy(dict(self.fields))
        self._bound_fields_cache.clear()
        helper = FormHelper()
        helper.form_tag = False
        helper.disable_csrf = True
        helper.layout = Layout(
            "section",
            "kind",
            "proposed_category",
            "comment",
            *([Fieldset("Stay in touch (optional)", *self._contact)] if self._contact else []),
            Div(Field(antispam.HONEYPOT_FIELD), css_class="honeypot", aria_hidden="true"),
            *self._hidden,
        )
        return helper

    # --- field checks ----------------------------------------------------------------------

    def clean_comment(self):
        comment = self.cleaned_data["comment"].strip()
        if not comment:
            raise forms.ValidationError("Please write your feedback.", code="required")
        links = antispam.count_links(comment)
        if links > antispam.max_links():
            raise forms.ValidationError(
                "Please include at most %(max)d links (this has %(n)d).",
                code="links",
                params={"max": antispam.max_links(), "n": links},
            )
        return comment

    def clean_name(self):
        """One line of plain text: it is shown in the editors' mail and the reviewers'
        thread, where a line break or control character could pass for the portal's text."""
        name = self.cleaned_data.get("name", "")
        if has_control_characters(name):
            raise forms.ValidationError(
                "Please give your name on one line, without line breaks or control characters.",
                code="control_characters",
            )
        return name.strip()

    def clean_section(self):
        section = self.cleaned_data.get("section")
        if not section and self.data.get("kind") != Feedback.Kind.CLASSIFICATION:
            raise forms.ValidationError("Please choose the part of the page.", code="required")
        return section or Feedback.Section.REASONING

    def section_choices(self):
        """The parts a "Comment on this section" link may choose for this user."""
        return {value for value, _label in self.fields["section"].choices if value}

    def clean_proposed_category(self):
        code = self.cleaned_data["proposed_category"].strip()
        if not code:
            return None
        code = code.split()[0]
        category = None
        if CODE_RE.match(code):
            category = TaxonomyCategory.objects.filter(code=code).first()
        if category is None:
            raise forms.ValidationError(
                "There is no taxonomy category with the code “%(code)s”.",
                code="unknown_category",
                params={"code": code[:20]},
            )
        return category

    def clean(self):
        data = super().clean()
        for name, value in list(data.items()):
            if isinstance(value, str) and UNREADABLE in value:
                self.add_error(
                    name,
                    forms.ValidationError(
                        "This contains characters that could not be read.", code="encoding"
                    ),
                )
        try:
            data["nonce"] = antispam.check_stamp(data.get("stamp"))
        except antispam.StampError as exc:
            self.add_error(None, forms.ValidationError(str(exc), code="stamp"))
        if self.mitigation is not None:
            page = read_page(data.get("page") or "", self.mitigation)
            if page is None:
                self.add_error(
                    None,
                    forms.ValidationError(
                        "This form does not match the page. Reload the page and send it again.",
                        code="page",
                    ),
                )
            else:
                data["page_version"] = page["version"]
        if not self.signed_in:
            email, consent = data.get("email"), data.get("contact_consent")
            if email and not consent:
                self.add_error(
                    "contact_consent",
                    forms.ValidationError(
                        "Tick this box if we may use your email address, or leave the email empty.",
                        code="consent",
                    ),
                )
            elif consent and not email and "email" not in self.errors:
                self.add_error(
                    "email",
                    forms.ValidationError(
                        "Give an email address so that we can contact you.",
                        code="email",
                    ),
                )
        return data

    def has_stamp_error(self):
        return any(e.code in ("stamp",) for e in self.non_field_errors().as_data())

    def _variant(self):
        """Everything an unbound form's HTML depends on, except the slotted values."""
        return (
            type(self),
            self.prefix,
            self.auto_id,
            tuple(
                (name, str(field.label), tuple(getattr(field, "choices", ())))
                for name, field in self.fields.items()
            ),
            tuple(sorted((k, str(v)) for k, v in self.initial.items() if k not in _SLOTTED)),
        )

    def fields_html(self):
        """The fields as laid out by crispy-forms.

        An unbound form (every page view) is laid out once per process and variant, with
        slots for the per-request values (the stamp, the signed page version) filled in
        here; a bound form (errors to show) is laid out as it is."""
        if self.is_bound:
            return render_crispy_form(self)
        key = self._variant()
        skeleton = _SKELETONS.get(key)
        if skeleton is None:
            values = dict(self.initial)
            self.initial.update({name: f"{_SLOT}{name}" for name in _SLOTTED})
            try:
                skeleton = str(render_crispy_form(self))
            finally:
                self.initial.clear()
                self.initial.update(values)
            if len(_SKELETONS) >= 64:
                _SKELETONS.clear()
            _SKELETONS[key] = skeleton
        html = skeleton
        for name in _SLOTTED:
            html = html.replace(
                f"{_SLOT}{name}", str(conditional_escape(self.initial.get(name) or ""))
            )
        return mark_safe(html)  # noqa: S308 - crispy's HTML, slot values escaped

    def taxonomy_datalist(self):
        return taxonomy_datalist()


class _SharedFields(dict):
    """FeedbackForm's fields, given to every form without Django's deep copy (a third of a
    valid POST's form work): a form only reads its fields while it validates; what differs
    per form replaces a field (`_section_field`, `_account_consent_field`) rather than
    changing it, and a form copies them before crispy-forms lays them out (`helper`)."""

    def __deepcopy__(self, memo):
        return dict(self)


FeedbackForm.base_fields = _SharedFields(FeedbackForm.base_fields)


@functools.cache
def _section_field(figures, on_page):
    """The section field for users who may (not) comment on figures, on a page's form or
    the general one (built once each, shared by the forms)."""
    field = copy.deepcopy(FeedbackForm.declared_fields["section"])
    sections = Feedback.Section.choices
    if not figures:
        sections = [c for c in sections if c[0] != Feedback.Section.FIGURES]
    if on_page:
        sections = [FeedbackForm.NO_PART, *sections]
        field.initial = None
        # A classification disagreement without a part chosen is about the classification.
        field.required = False
    field.choices = sections
    return field


@functools.cache
def _account_consent_field():
    field = copy.deepcopy(FeedbackForm.declared_fields["contact_consent"])
    field.label = "Email me at my account address when it is resolved"
    return field


@per_data_version
def taxonomy_datalist():
    """<option>s of the taxonomy codes for the proposed-category field (one per data version)."""
    options = format_html_join(
        "",
        '<option value="{}">{} {}</option>',
        TaxonomyCategory.objects.order_by("sort_key").values_list("code", "code", "name"),
    )
    return format_html('<datalist id="{}">{}</datalist>', DATALIST_ID, options)


REPLY_MAX = 3000


class ThreadReplyForm(forms.Form):
    """A reply under a feedback item in the reviewers' discussion."""

    # The length is checked in clean_comment, not by a maxlength attribute: a browser would cut
    # a pasted text short without a word; the form says what is too long and keeps the text.
    comment = forms.CharField(
        label="Your reply",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Please write your reply."},
        help_text=f"Plain text, up to {REPLY_MAX} characters and {settings.FEEDBACK_MAX_LINKS} "
        "links. Other reviewers and the editors see it at once.",
    )

    def clean_comment(self):
        comment = self.cleaned_data["comment"].strip()
        if not comment:
            raise forms.ValidationError("Please write your reply.", code="required")
        if len(comment) > REPLY_MAX:
            raise forms.ValidationError(
                "Please keep your reply to %(max)d characters (it has %(n)d).",
                code="max_length",
                params={"max": REPLY_MAX, "n": len(comment)},
            )
        if UNREADABLE in comment:
            raise forms.ValidationError("The text has characters that cannot be read.")
        links = antispam.count_links(comment)
        if links > antispam.max_links():
            raise forms.ValidationError(
                "Please include at most %(max)d links (this has %(n)d).",
                code="links",
                params={"max": antispam.max_links(), "n": links},
            )
        return comment
