"""What a mitigation page needs from the feedback app (form and reviewers' thread)."""


def feedback_context(request, mitigation):
    return {}
