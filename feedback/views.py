"""Feedback pages: the general form, a page's form, thank-you and private tracking pages.

Every POST goes through `_receive`: rate limit, the page, body check, honeypot, form (stamp,
page version, fields), then services.submit, then a redirect to the thank-you page (PRG).
"""

import logging
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import DEFAULT_DB_ALIAS
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from feedback import antispam, counters, helpful, notifications, services
from feedback.forms import FeedbackForm, ThreadReplyForm
from feedback.models import ContactAddress, Feedback
from feedback.page_context import THREAD_LIMIT, page_form
from mitigations.models import Mitigation
from mitigations.search import clean_query
from portal.lib import access
from portal.lib.page_cache import current_data_version, fresh_value

log = logging.getLogger(__name__)


def _private(response):
    """Pages that carry the private token: never indexed, cached or sent as a referrer."""
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _rate_limited(request, limited):
    response = render(request, "429.html", {"retry_after": limited.retry_after}, status=429)
    response["Retry-After"] = str(limited.retry_after)
    return response


def _receive(request, *, code=None, render_form):
    """Handle a submitted feedback form (about the page `code`, or general)."""
    limited = antispam.rate_limit(request)  # reads the data version in the same round trip
    if limited is not None:
        log.info("feedback rate-limited (%s)", limited.scope)
        return _rate_limited(request, limited)
    mitigation = None if code is None else _page_to_post_to(request, code)
    if not antispam.body_is_decodable(request):
        return render(request, "400.html", status=400)
    if antispam.honeypot_filled(request.POST):
        # Treated as spam without telling: nothing is stored, the reply looks normal.
        log.info("feedback honeypot filled; discarded")
        return redirect("feedback:thanks_generic")

    form = FeedbackForm(request.POST, user=request.user, mitigation=mitigation)
    duplicate = False
    if form.is_valid():
        data = form.cleaned_data
        try:
            item, _created = services.submit(
                user=request.user,
                submission_id=data["nonce"],
                mitigation=mitigation,
                page_version=data.get("page_version"),
                section=data["section"],
                kind=data["kind"],
                comment=data["comment"],
                proposed_category=data["proposed_category"],
                name=data.get("name", ""),
                email=data.get("email", ""),
                contact_consent=data.get("contact_consent", False),
                ip_hash=antispam.ip_hash(request),
                site_url=request.build_absolute_uri("/"),
            )
        except services.DuplicateSubmission:
            duplicate = True
            form.add_error(None, "This form has already been sent. Please send it again.")
        else:
            return redirect("feedback:thanks", token=item.token)
    if duplicate or form.has_stamp_error():
        # The old stamp cannot be used again. Otherwise the stamp is kept, so that sending
        # the corrected form is still recognised as the same submission.
        data = request.POST.copy()
        data["stamp"] = antispam.new_stamp(request)
        form.data = data
    return render_form(form)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def general(request):
    """Feedback about the portal or the database as a whole."""

    def render_form(form):
        return render(request, "feedback/general.html", {"form": form})

    if request.method == "POST":
        return _receive(request, render_form=render_form)
    initial = {"stamp": fresh_value(request, "feedback_stamp")}
    missing = clean_query(request.GET.get("missing", ""))
    if missing:  # "Tell us what is missing" from a search that found nothing
        initial["kind"] = Feedback.Kind.SUGGESTION
        initial["comment"] = f"I searched for “{missing}” and found nothing. I was looking for "
    form = FeedbackForm(user=request.user, initial=initial)
    return render_form(form)


# Pages feedback was posted to: (code, sees drafts) -> (data version, until, id, slug,
# public version).
# Valid while the catalogue's data version (bumped on every catalogue change, as for the page
# cache) is unchanged, and at most PAGE_MEMO_SECONDS.
_posted_to: dict[tuple, tuple] = {}
PAGE_MEMO_SECONDS = 30
PAGE_MEMO_SIZE = 5000


def _page_to_post_to(request, code):
    """The page a POST to /feedback/on/CODE/ is about, as far as storing feedback needs it:
    its id and slug and public
    version (the form's page token), other columns deferred; 404 unless the user may see it.

    Remembered per process under the catalogue's data version, like the page cache (which
    serves the form to the same users): one cache read instead of a query per post."""
    version, now = current_data_version(), time.monotonic()
    key = (code, access.can_see_drafts(request.user))
    known = _posted_to.get(key)
    if known is not None and known[0] == version and known[1] > now:
        fields = [Mitigation._meta.pk.attname, "slug", "public_version"]
        return Mitigation.from_db(DEFAULT_DB_ALIAS, fields, known[2:])
    found = get_object_or_404(
        Mitigation.objects.visible_to(request.user).only("pk", "slug", "public_version"),
        code=code,
    )
    if len(_posted_to) >= PAGE_MEMO_SIZE:
        _posted_to.clear()
    _posted_to[key] = (version, now + PAGE_MEMO_SECONDS, found.pk, found.slug, found.public_version)
    return found


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def page(request, code):
    """The feedback form of one mitigation page on its own (and where page forms post to)."""
    if request.method == "POST":

        def render_again(form):
            visible = Mitigation.objects.visible_to(request.user)
            mitigation = get_object_or_404(
                visible.select_related("category"), pk=form.mitigation.pk
            )
            form.mitigation = mitigation
            return render(
                request, "feedback/page_form.html", {"mitigation": mitigation, "form": form}
            )

        return _receive(request, code=code, render_form=render_again)
    visible = Mitigation.objects.visible_to(request.user)
    mitigation = get_object_or_404(visible.select_related("category"), code=code)
    return render(
        request,
        "feedback/page_form.html",
        {"mitigation": mitigation, "form": page_form(request, mitigation)},
    )


@never_cache
@require_http_methods(["POST"])
def helpful_answer(request, code):
    """One click on "Was this page helpful?": counted (once a visitor a day), then back to
    the page; "No" goes on to the page's feedback form."""
    mitigation = get_object_or_404(
        Mitigation.objects.visible_to(request.user).only("pk", "slug"), code=code
    )
    limited = antispam.rate_limit(request, counter="helpful")
    if limited is not None:
        return _rate_limited(request, limited)
    answer = request.POST.get("answer")
    if answer not in helpful.ANSWERS or not helpful.token_is_for(
        request.POST.get("token"), mitigation
    ):
        return HttpResponseBadRequest("This answer could not be read. Reload the page.")
    helpful.record_answer(request, mitigation, answer)
    if answer == "no":
        return redirect(f"{mitigation.get_absolute_url()}?helpful=no#feedback")
    return redirect(f"{mitigation.get_absolute_url()}?helpful=yes#helpful")


def _page_if_visible(item, user):
    """The page the feedback is about, only while the user may know it exists."""
    if item.mitigation_id and access.mitigation_is_visible(item.mitigation, user):
        return item.mitigation
    return None


@never_cache
def thanks(request, token=None):
    item = None
    if token is not None:
        item = get_object_or_404(Feedback.objects.select_related("mitigation"), token=token)
    return _private(
        render(
            request,
            "feedback/thanks.html",
            {
                "item": item,
                "show_text": item is not None and access.can_read_feedback_text(item, request.user),
                "page": _page_if_visible(item, request.user) if item else None,
                "track_url": request.build_absolute_uri(item.get_absolute_url()) if item else "",
                "address_confirmed": bool(
                    item and item.email and ContactAddress.is_confirmed(item.email)
                ),
            },
        )
    )


@never_cache
def track(request, token):
    item = (
        Feedback.objects.select_related("mitigation", "proposed_category")
        .filter(token=token)
        .first()
    )
    if item is None:
        raise Http404("No such feedback")
    return _private(
        render(
            request,
            "feedback/track.html",
            {
                "item": item,
                # Restricted feedback: its text for accounts that may see restricted figures
                # only; anyone else holding the link sees its status.
                "show_text": access.can_read_feedback_text(item, request.user),
                "page": _page_if_visible(item, request.user),
                "track_url": request.build_absolute_uri(item.get_absolute_url()),
                # Received -> Read by an editor -> Addressed / Declined
                "read": item.status != Feedback.Status.PENDING,
                "done": item.resolution != Feedback.Resolution.OPEN,
            },
        )
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm_address(request, token):
    """The link in the confirmation mail: GET shows a button, POST confirms (mail scanners
    that follow links confirm nothing)."""
    email = ContactAddress.email_from_token(token)
    if email is None:
        response = render(request, "feedback/confirm.html", {"invalid": True}, status=400)
        return _private(response)
    confirmed = ContactAddress.is_confirmed(email)
    if request.method == "POST" and not confirmed:
        address, _ = ContactAddress.objects.get_or_create(email=email)
        ContactAddress.objects.filter(pk=address.pk, confirmed_at__isnull=True).update(
            confirmed_at=timezone.now()
        )
        log.info("contact address confirmed")
        confirmed = True
    return _private(
        render(request, "feedback/confirm.html", {"email": email, "confirmed": confirmed})
    )


# --- The reviewers' discussion: replies and the reply emails ---------------------------------

REPLIES_PER_MINUTE = 10


def _thread_item(request, code, ref):
    """A feedback item of a page's discussion the user may reply to, by its reference; 404
    for anything else (a hidden, rejected, deleted item, a page the user may not see, a
    reader). The reference is a hash: the page's thread (bounded) is searched for it."""
    if not access.can_reply(request.user):
        raise Http404("No such discussion")
    mitigation = get_object_or_404(Mitigation.objects.visible_to(request.user), code=code)
    items = (
        Feedback.objects.thread_for(request.user)
        .on_page(mitigation)
        .select_related("user", "proposed_category")
        .order_by("created_at", "pk")[:THREAD_LIMIT]
    )
    for item in items:
        if item.thread_ref == ref:
            item.mitigation = mitigation
            return item
    raise Http404("No such discussion")


def _replying_too_fast(request) -> bool:
    minute = int(time.time() // 60)
    counted = counters.count(f"feedback:reply-rate:{request.user.pk}:{minute}", 70)
    return counted is not None and counted > REPLIES_PER_MINUTE


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def reply(request, code, ref):
    """Reply under a feedback item (the form sits under each item of a page's discussion; on
    an error it is shown here, with the text kept)."""
    item = _thread_item(request, code, ref)
    form = ThreadReplyForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if _replying_too_fast(request):
            return _rate_limited(request, antispam.Limited(retry_after=60, scope="replies"))
        if form.is_valid():
            services.reply_create(
                user=request.user,
                feedback=item,
                comment=form.cleaned_data["comment"],
                site_url=request.build_absolute_uri("/"),
            )
            return redirect(f"{item.mitigation.get_absolute_url()}#fb-item-{item.thread_ref}")
    item.shown_replies = list(
        access.visible_replies(item.replies.select_related("user"), request.user)
    )
    context = {
        "item": item,
        "mitigation": item.mitigation,
        "form": form,
        "feedback_viewer_id": request.user.pk,
    }
    return render(request, "feedback/reply.html", context)


@csrf_exempt  # the signed link is the authority; mail clients POST it without a session
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def reply_mail_off(request, token):
    """One-click unsubscribe from reply emails (a signed link; RFC 8058 POST as well)."""
    user_id = notifications.unsubscribe_user_id(token)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        raise Http404("No such link")
    done = request.method == "POST"
    if done:
        services.reply_mail_set(user=user, enabled=False)
    return _private(render(request, "feedback/reply_mail_off.html", {"done": done}))


@never_cache
@login_required
@require_http_methods(["POST"])
def reply_mail(request):
    """The account page's switch for reply emails."""
    if access.can_reply(request.user):
        services.reply_mail_set(user=request.user, enabled=request.POST.get("enabled") == "1")
    return redirect("account")
