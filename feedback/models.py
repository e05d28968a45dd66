"""Feedback left on mitigation pages, and its moderation."""

import datetime
import secrets

from django.conf import settings
from django.core import signing
from django.db import models
from django.db.models import Case, F, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.functional import cached_property
from simple_history.models import HistoricalRecords

from portal.lib import access


def new_token():
    return secrets.token_urlsafe(32)


def queue_rank():
    """0 for pending feedback, 1 for the rest: the moderation queue shows pending first.

    The same expression is indexed (`fb_queue`), so ordering by it stays an index scan.
    """
    return Case(
        When(status="pending", then=Value(0)),
        default=Value(1),
        output_field=models.IntegerField(),
    )


class FeedbackQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=Feedback.Status.PENDING)

    def queue(self):
        """The moderation queue order: pending first, then newest first."""
        return self.order_by(*Feedback.QUEUE_ORDERING)

    def on_page(self, mitigation):
        return self.filter(mitigation=mitigation)

    def thread_for(self, user):
        """Others' feedback this user may read (the reviewers' discussion)."""
        return access.visible_thread(self, user)

    def of_user(self, user):
        return self.filter(user=user) if user.is_authenticated else self.none()

    def open_work(self):
        """Items that still need an editor: pending, or approved and not yet resolved."""
        return self.filter(open_work_q())

    def overdue(self, now=None):
        return self.open_work().filter(created_at__lt=due_cutoff(now))


def open_work_q():
    return models.Q(status="pending") | models.Q(status="approved", resolution="open")


def due_days():
    """How long an item may wait for a decision and a resolution (FEEDBACK_DUE_DAYS)."""
    return int(getattr(settings, "FEEDBACK_DUE_DAYS", 7))


def due_cutoff(now=None):
    """Items created before this instant and still open are overdue."""
    return (now or timezone.now()) - datetime.timedelta(days=due_days())


class Feedback(models.Model):
    class Section(models.TextChoices):
        DEFINITION = "definition", "Definition"
        ADDITIONAL_INFORMATION = "additional_information", "Additional information"
        REASONING = "reasoning", "Reasoning and classification"
        FIGURES = "figures", "Figures"
        RELATED = "related", "Related mitigations"
        SOURCES = "sources", "Source documents"
        OTHER = "other", "Something else"

    class Kind(models.TextChoices):
        ERROR = "error", "Something is wrong"
        SOURCE = "source", "Missing or wrong source"
        CLASSIFICATION = "classification", "I disagree with the classification"
        SUGGESTION = "suggestion", "Suggestion"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SPAM = "spam", "Spam"

    class Resolution(models.TextChoices):
        OPEN = "open", "Open"
        ADDRESSED = "addressed", "Addressed"
        DECLINED = "declined", "Declined"

    mitigation = models.ForeignKey(
        "mitigations.Mitigation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="feedback",
    )
    page_version = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="History id of the page version it was written against"
    )
    section = models.CharField(max_length=30, choices=Section.choices, default=Section.OTHER)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    comment = models.TextField()
    proposed_category = models.ForeignKey(
        "mitigations.TaxonomyCategory",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="feedback",
    )
    by_reviewer = models.BooleanField(default=False, help_text="Written by a signed-in reviewer")
    name = models.CharField(max_length=120, blank=True)
    email = models.EmailField(blank=True)
    contact_consent = models.BooleanField(default=False)
    ip_hash = models.CharField(max_length=64, blank=True)
    submission_id = models.CharField(max_length=64, unique=True, editable=False)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    resolution = models.CharField(
        max_length=10, choices=Resolution.choices, default=Resolution.OPEN
    )
    public_reply = models.TextField(blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The editor handling this item",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        help_text="Answered together with this item: its resolution and reply apply here too",
    )
    page_changed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When its section of the page changed since the version it was written "
        "against (possibly outdated; feedback/outdated.py)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at", "ip_hash", "page_changed_at"])
    objects = FeedbackQuerySet.as_manager()

    QUEUE_ORDERING = (queue_rank().asc(), F("created_at").desc(), F("id").desc())

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "feedback"
        permissions = [
            ("moderate_feedback", "Can moderate feedback"),
            ("view_reviewer_thread", "Can read reviewers' approved feedback"),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="fb_status_created"),
            models.Index(fields=["resolution", "-created_at"], name="fb_resolution_created"),
            models.Index(fields=["mitigation", "status", "by_reviewer"], name="fb_page_thread"),
            models.Index(fields=["-created_at"], name="fb_created"),
            models.Index(fields=["kind", "-created_at"], name="fb_kind_created"),
            # The queue filtered by status (and kind): ordered by -created_at, -id then.
            models.Index(
                fields=["status", "kind", "-created_at", "-id"], name="fb_status_kind_created"
            ),
            models.Index(fields=["section", "-created_at"], name="fb_section_created"),
            models.Index(queue_rank(), F("created_at").desc(), F("id").desc(), name="fb_queue"),
            # The queue's presets: "needs a resolution", "mine" and "overdue" (oldest first).
            models.Index(
                fields=["status", "resolution", "-created_at", "-id"], name="fb_status_res_created"
            ),
            models.Index(fields=["claimed_by", "-created_at", "-id"], name="fb_claimed_created"),
            models.Index(
                F("created_at").desc(),
                F("id").desc(),
                name="fb_page_changed_created",
                condition=models.Q(page_changed_at__isnull=False),
            ),
            models.Index(
                fields=["created_at", "id"],
                name="fb_open_work_created",
                condition=models.Q(status="pending")
                | models.Q(status="approved", resolution="open"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "approved", "rejected", "spam"]),
                name="feedback_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(resolution__in=["open", "addressed", "declined"]),
                name="feedback_resolution_valid",
            ),
        ]

    def __str__(self):
        # As get_status_display(), without building the choices' dict again (the queue
        # shows fifty of these a page, in its checkboxes' labels).
        status = _STATUS_LABELS.get(self.status, self.status)
        where = self.mitigation.code if self.mitigation_id else "general"
        return f"#{self.pk} on {where} ({status})"

    def get_absolute_url(self):
        return reverse("feedback:track", args=[self.token])

    @property
    def public_status_display(self):
        """The status as a submitter sees it (spam is reported as rejected)."""
        if self.status == self.Status.SPAM:
            return self.Status.REJECTED.label
        return self.get_status_display()

    @cached_property
    def thread_ref(self):
        """The item's reference in the reviewers' discussion (anchors, reply links): not its
        id, which would tell how much feedback the portal gets."""
        value = salted_hmac("feedback.thread-ref", str(self.pk), algorithm="sha256")
        return value.hexdigest()[:16]

    @property
    def submitter(self):
        if self.user_id:
            return self.user.get_full_name() or self.user.get_username()
        return self.name or "Anonymous"


_STATUS_LABELS = dict(Feedback.Status.choices)


class ContactAddress(models.Model):
    """An email address an anonymous submitter gave for updates, and whether its owner has
    confirmed it (double opt-in).

    Anyone can type any address into the form, so the first mail to an address only asks
    it to confirm (a fixed text, nothing the submitter wrote); updates about feedback go
    to confirmed addresses only. Account addresses (set by the editors) need no
    confirmation. Addresses are kept lower-cased."""

    email = models.EmailField(unique=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    asked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "contact address"

    def __str__(self):
        return self.email

    @staticmethod
    def normalise(email: str) -> str:
        return (email or "").strip().lower()

    @classmethod
    def is_confirmed(cls, email: str) -> bool:
        return cls.objects.filter(email=cls.normalise(email), confirmed_at__isnull=False).exists()

    # --- the confirmation link ----------------------------------------------------------

    SALT = "feedback.contact-address"

    @classmethod
    def token_for(cls, email: str) -> str:
        return signing.TimestampSigner(salt=cls.SALT, algorithm="sha256").sign_object(
            {"e": cls.normalise(email)}
        )

    @classmethod
    def email_from_token(cls, token: str) -> str | None:
        """The address a confirmation token was made for, or None (altered, expired)."""
        if not isinstance(token, str) or len(token) > 600:
            return None
        try:
            data = signing.TimestampSigner(salt=cls.SALT, algorithm="sha256").unsign_object(
                token, max_age=settings.FEEDBACK_CONFIRM_DAYS * 24 * 60 * 60
            )
        except (signing.BadSignature, ValueError, TypeError):
            return None
        email = data.get("e") if isinstance(data, dict) else None
        return email if isinstance(email, str) and email else None


class ReplyQuerySet(models.QuerySet):
    def shown(self):
        return self.filter(hidden=False)


class Reply(models.Model):
    """A comment on a feedback item in the reviewers' discussion (one level: replies to the
    item, not to replies). Not feedback: it never enters the editors' queue or its counts."""

    feedback = models.ForeignKey(Feedback, on_delete=models.CASCADE, related_name="replies")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField()
    hidden = models.BooleanField(default=False, help_text="Hidden from the discussion")
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ReplyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "replies"
        indexes = [models.Index(fields=["feedback", "hidden", "created_at"], name="reply_thread")]

    def __str__(self):
        return f"Reply #{self.pk} to feedback #{self.feedback_id}"

    @property
    def author(self):
        if self.user_id:
            return self.user.get_full_name() or self.user.get_username()
        return "A former reviewer"


class ReplyMail(models.Model):
    """A user's choice to be emailed when someone replies to a thread they took part in
    (off unless a row says on)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reply_mail"
    )
    enabled = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Reply mail for {self.user} ({'on' if self.enabled else 'off'})"


class PageHelpfulnessQuerySet(models.QuerySet):
    def worst_first(self):
        """Pages by the share of "No" answers, highest first (then the most answers)."""
        total = F("yes") + F("no")
        share = Case(
            When(yes=0, no=0, then=Value(None)),
            default=models.ExpressionWrapper(
                F("yes") * 1.0 / total, output_field=models.FloatField()
            ),
            output_field=models.FloatField(),
        )
        return self.annotate(helpful_share=share, answers=total).order_by(
            F("helpful_share").asc(nulls_last=True), F("answers").desc(), "mitigation_id"
        )


class PageHelpfulness(models.Model):
    """ "Was this page helpful?" answers on a page: counts only (who answered is not kept;
    feedback/helpful.py counts a visitor once a day per page)."""

    mitigation = models.OneToOneField(
        "mitigations.Mitigation",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="helpfulness",
    )
    yes = models.PositiveIntegerField(default=0)
    no = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PageHelpfulnessQuerySet.as_manager()

    class Meta:
        verbose_name = "page helpfulness"
        verbose_name_plural = "page helpfulness"
        ordering = ["mitigation_id"]

    def __str__(self):
        return f"{self.mitigation_id}: {self.yes} yes, {self.no} no"


class ReplyTemplate(models.Model):
    """A canned public reply editors pick on the change form (editable in the admin)."""

    kind = models.CharField(
        max_length=20,
        choices=Feedback.Kind.choices,
        blank=True,
        help_text="Offered for feedback of this kind; empty: for every kind",
    )
    resolution = models.CharField(
        max_length=10,
        choices=[c for c in Feedback.Resolution.choices if c[0] != "open"],
        blank=True,
        help_text="Also set this resolution when the template is chosen (optional)",
    )
    title = models.CharField(max_length=80)
    text = models.TextField(max_length=5000)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "title"]

    def __str__(self):
        return self.title

    @classmethod
    def for_kind(cls, kind):
        return cls.objects.filter(models.Q(kind=kind) | models.Q(kind=""))
