"""Demo feedback (`manage.py demo_feedback`, run by `make run` after `setup_demo`): a queue
an editor can work through and a reviewers' discussion to read, made through the same
services as the site's own forms.

Idempotent: every item has a fixed submission id, so a second run finds them (services.submit
returns the stored row) and changes nothing; decisions are only taken on items just made.
Pages are found by their codes in data/demo; a code that is not there is skipped."""

from django.contrib.auth import get_user_model

from feedback import services
from feedback.models import Feedback, Reply
from mitigations.models import Mitigation, TaxonomyCategory
from portal.lib import access

S, K = Feedback.Section, Feedback.Kind

# key, page code, section, kind, comment, submitter ("" = an anonymous reader), name
ITEMS = [
    (
        "typo",
        "A1425",
        S.DEFINITION,
        K.ERROR,
        "The definition says 'fine-tunning' in the second sentence.",
        "",
        "Sam",
    ),
    (
        "source",
        "A1428",
        S.SOURCES,
        K.SOURCE,
        "The 2024 red-teaming report has a newer edition (2025) that revises the success rates; "
        "worth citing that one instead.",
        "",
        "",
    ),
    (
        "unclear",
        "A1444",
        S.DEFINITION,
        K.SUGGESTION,
        "Is 'a regulator' any public authority, or only the one licensing the model? The "
        "definition reads both ways.",
        "",
        "Priya",
    ),
    (
        "category",
        "A1423",
        S.REASONING,
        K.CLASSIFICATION,
        "This reads more like governance than evaluation: the firm is hired to check the "
        "developer's own process.",
        "",
        "",
    ),
    (
        "figure",
        "A1425",
        S.FIGURES,
        K.ERROR,
        "The adoption share in the figures looks like it counts pilot programmes too; the "
        "source's table 3 gives a lower number for full programmes.",
        "reviewer",
        "",
    ),
    (
        "duplicate-1",
        "A1428",
        S.DEFINITION,
        K.SUGGESTION,
        "Does adversarial training here include automated red-teaming data, or only "
        "human-written attacks?",
        "",
        "",
    ),
    (
        "duplicate-2",
        "A1428",
        S.DEFINITION,
        K.SUGGESTION,
        "Same question as others probably: are automated attacks part of this?",
        "",
        "Jo",
    ),
    (
        "addressed",
        "A1444",
        S.SOURCES,
        K.SOURCE,
        "The link to the source document is broken.",
        "",
        "",
    ),
    ("declined", "A1423", S.OTHER, K.OTHER, "Please add a dark mode.", "", ""),
    (
        "spam",
        "A1425",
        S.OTHER,
        K.OTHER,
        "Great article!!! Visit my site for cheap followers.",
        "",
        "",
    ),
]

# key -> (status, resolution, public reply) taken by the editor right after submission
DECISIONS = {
    "source": ("approved", "open", ""),
    "category": ("approved", "open", ""),
    "figure": ("approved", "open", ""),
    "addressed": (
        "approved",
        "addressed",
        "Thank you: the link now points to the publisher's page.",
    ),
    "declined": (
        "approved",
        "declined",
        "The portal follows your browser's dark setting already.",
    ),
    "spam": ("spam", None, None),
}

REPLIES = {
    # key of a reviewer's item -> reply in the reviewers' discussion (by the editor account)
    "figure": "Agreed, table 3 is the one to use; I will check the other pages of that source.",
}


def _page(code):
    return Mitigation.objects.filter(code=code).first()


def create_demo_feedback() -> int:
    """Make the demo feedback; the number of items created (0 on a second run)."""
    accounts = get_user_model().objects.filter(username__in=["reviewer", "editor"])
    users = {u.username: u for u in accounts}
    editor = users.get("editor")
    made = {}
    for key, code, section, kind, comment, username, name in ITEMS:
        page = _page(code)
        if page is None:
            continue
        # As after the account's own sign-in (second factor passed): its role counts.
        user = access.as_account(users.get(username)) if username else None
        item, created = services.submit(
            user=user,
            submission_id=f"demo-{key}",
            comment=comment,
            ip_hash="demo",
            mitigation=page,
            page_version=page.history_id_for(page.public_version),
            section=section,
            kind=kind,
            proposed_category=(
                TaxonomyCategory.objects.filter(code="2.1.1").first()
                if kind == K.CLASSIFICATION
                else None
            ),
            name=name,
        )
        if created:
            made[key] = item
    if editor is None:
        return len(made)
    for key, (status, resolution, reply) in DECISIONS.items():
        if key in made:
            services.moderate(
                [made[key]], editor, status=status, resolution=resolution, reply=reply
            )
    if "duplicate-1" in made and "duplicate-2" in made:
        services.merge([made["duplicate-2"]], made["duplicate-1"], editor)
    for key, text in REPLIES.items():
        if key in made and not Reply.objects.filter(feedback=made[key]).exists():
            services.reply_create(user=editor, feedback=made[key], comment=text)
    return len(made)
