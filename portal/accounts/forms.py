"""Forms of the second factor and of invitations."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator

from portal.accounts import second_factor


class CodeForm(forms.Form):
    """A code from the authenticator app, or (when `recovery`) a recovery code. Only the
    form of the code is checked here; whether it is right is the view's business (it is
    counted by the sign-in limits)."""

    code = forms.CharField(
        label="Code",
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )

    def __init__(self, *args, recovery_allowed=True, **kwargs):
        self.recovery_allowed = recovery_allowed
        super().__init__(*args, **kwargs)
        self.fields["code"].help_text = "The 6-digit code your authenticator app shows" + (
            ", or one of your recovery codes." if recovery_allowed else "."
        )

    def clean_code(self):
        code = second_factor.normalise(self.cleaned_data["code"])
        kind = second_factor.kind_of(code)
        if kind is None or (kind == "recovery" and not self.recovery_allowed):
            raise forms.ValidationError(
                "Enter the 6 digits your authenticator app shows"
                + (" or a recovery code (8 letters and digits)." if self.recovery_allowed else ".")
            )
        return code


class InviteForm(forms.Form):
    """An editor invites a reviewer: a new account without a password, and a mail with a
    link to set it (then the second factor)."""

    email = forms.EmailField(label="Email address")
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="What they sign in with. Letters, digits and @/./+/-/_ only.",
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("An account with this username exists already.")
        return username

    def clean_email(self):
        email = self.cleaned_data["email"]
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this address exists already (reset its password or second "
                "factor instead)."
            )
        return email
