"""The editors' decisions as bench/drive.py sends them and bench/profile_decision.py times
them: a pool of pending items, and for each item one POST body, either

* "row": a per-row button of the queue (Approve, Reject or Spam, in turn), posted to
  /admin/feedback/feedback/decide/ as the queue's `<form id="fb-decide">` sends it
  (`decide=ID:DECISION:VERSION`, `next` = the Pending preset), or
* "next": the change form's "Save and next pending" (status approved, the rest as the form
  shows it, the hidden `seen` stamp), posted to the item's change page opened from the
  Pending preset.

VERSION and `seen` are the item's `updated_at` as the portal writes them
(`feedback.admin.columns.version_of`, what the queue's buttons and the change form carry),
read from the database for the whole pool at once instead of fetching thousands of pages;
`check_real_forms` compares them and the field names with one real queue page and one real
change form first. Each item is decided once: a stale check (another editor decided it
meanwhile) would refuse it, and the verification after the run would say so.
"""

import re
import urllib.parse

QUEUE = "/admin/feedback/feedback/"
DECIDE = QUEUE + "decide/"
PENDING = "status__exact=pending"
ROW_DECISIONS = ("approve", "reject", "spam")
STATUS_AFTER = {"approve": "approved", "reject": "rejected", "spam": "spam", "next": "approved"}
# The change form's editable fields (FeedbackChangeForm), as an untouched form posts them.
CHANGE_FIELDS = ("status", "resolution", "public_reply", "claimed_by", "seen")


def pending_pool(count):
    """[(id, version)] of `count` pending items, newest first (the top of the Pending
    preset), without replies in the reviewers' discussion (their change form carries an
    inline formset) and not merged into another item."""
    from django.db.models import Exists, OuterRef

    from feedback.admin.columns import version_of
    from feedback.models import Feedback, Reply

    items = (
        Feedback.objects.filter(status="pending", duplicate_of__isnull=True)
        .exclude(Exists(Reply.objects.filter(feedback=OuterRef("pk"))))
        .order_by("-created_at", "-id")
        .only("pk", "updated_at")[:count]
    )
    return [(item.pk, version_of(item)) for item in items]


def change_path(pk):
    return f"{QUEUE}{pk}/change/?" + urllib.parse.urlencode({"_changelist_filters": PENDING})


def row_decision(i):
    return ROW_DECISIONS[i % len(ROW_DECISIONS)]


def bodies(kind, pool, csrf):
    """[(path, body, id, decision)] for each item of the pool."""
    out = []
    for i, (pk, version) in enumerate(pool):
        if kind == "row":
            decision = row_decision(i)
            data = {
                "csrfmiddlewaretoken": csrf,
                "next": f"{QUEUE}?{PENDING}",
                "decide": f"{pk}:{decision}:{version}",
            }
            out.append((DECIDE, urllib.parse.urlencode(data), pk, decision))
        else:
            data = {
                "csrfmiddlewaretoken": csrf,
                "status": "approved",
                "resolution": "open",
                "public_reply": "",
                "claimed_by": "",
                "seen": version,
                "_save_next_pending": "Save and next pending",
            }
            out.append((change_path(pk), urllib.parse.urlencode(data), pk, "next"))
    return out


def _fields(html, form_id=None):
    """{name: value attribute} of the inputs, selects and textareas (of the form `form_id`
    when given: controls outside it name it in their `form` attribute)."""
    names = {}
    for tag in re.finditer(r"<(input|select|textarea)\b([^>]*)>", html):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(2)))
        if "name" not in attrs or (form_id and attrs.get("form", form_id) != form_id):
            continue
        names.setdefault(attrs["name"], attrs.get("value", ""))
    return names


def check_real_forms(get, pool, csrf_field="csrfmiddlewaretoken"):
    """Compare what bodies() sends with the real pages (get(path) -> (status, html)):
    the queue's button of the pool's first item and its `next`, the change form's fields
    and `seen`. Raises SystemExit when they differ (the portal changed its forms)."""
    pk, version = pool[0]
    status, html = get(f"{QUEUE}?{PENDING}")
    if status != 200:
        raise SystemExit(f"the Pending preset answered {status}")
    for decision in ROW_DECISIONS:
        button = f'name="decide" class="fb-btn fb-{decision}" value="{pk}:{decision}:{version}"'
        if button not in html:
            raise SystemExit(f"no {decision} button for #{pk} with version {version} in the queue")
    decide_form = re.search(r'<form id="fb-decide" method="post" action="([^"]+)">(.*?)</form>',
                            html, re.S)  # fmt: skip
    if not decide_form or decide_form.group(1) != DECIDE:
        raise SystemExit("the queue's decision form is not where bench/admin_decisions.py posts")
    hidden = _fields(decide_form.group(2))
    if set(hidden) != {csrf_field, "next"} or hidden["next"] != f"{QUEUE}?{PENDING}":
        raise SystemExit(f"the queue's decision form has other fields: {hidden}")
    status, html = get(change_path(pk))
    if status != 200:
        raise SystemExit(f"the change form of #{pk} answered {status}")
    form = _fields(html.split('id="feedback_form"', 1)[-1].split("</form>", 1)[0])
    expected = {csrf_field, *CHANGE_FIELDS, "_save_next_pending"}
    extra = {n for n in form if not n.startswith("_")} - expected
    if not expected <= set(form) or extra:
        raise SystemExit(f"the change form's fields differ: {sorted(form)}")
    if form["seen"] != version:
        raise SystemExit(f"the change form's seen {form['seen']!r} is not {version!r}")
    return True


def verify(sent, replies, editor, *, slack):
    """Whether the decided items are stored as decided.

    `sent`: the [(id, decision)] of the pools used (warm-up and measurement); `replies`:
    how many answered with the expected redirect. Every item of the pools that is no longer
    pending must have the status its decision asked for and be moderated by `editor`, and
    the decided items must be as many as the expected redirects, plus at most `slack`
    decisions the server finished after wrk stopped counting.
    """
    from feedback.models import Feedback

    wanted = {pk: STATUS_AFTER[decision] for pk, decision in sent}
    ids = list(wanted)
    decided = []
    for i in range(0, len(ids), 5000):
        decided += (
            Feedback.objects.filter(pk__in=ids[i : i + 5000])
            .exclude(status="pending")
            .values_list("pk", "status", "moderated_by_id")
        )
    wrong = [(pk, status) for pk, status, by in decided if status != wanted[pk] or by != editor.pk]
    return {
        "replies": replies,
        "decided": len(decided),
        "decided_wrongly": len(wrong),
        "in_flight_at_stop": len(decided) - replies,
        "stored_ok": not wrong and 0 <= len(decided) - replies <= slack,
    }
