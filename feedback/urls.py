from django.urls import path, re_path

from feedback import views

app_name = "feedback"

TRACKING_ID = r"(?P<token>[A-Za-z0-9_-]{20,64})"
CONFIRM_TOKEN = r"(?P<token>[A-Za-z0-9_:-]{20,600})"  # noqa: S105 (a URL pattern)

urlpatterns = [
    path("", views.general, name="general"),
    path("on/<str:code>/", views.page, name="page"),
    path("helpful/<str:code>/", views.helpful_answer, name="helpful"),
    path("thanks/", views.thanks, name="thanks_generic"),
    re_path(rf"^thanks/{TRACKING_ID}/$", views.thanks, name="thanks"),
    re_path(rf"^t/{TRACKING_ID}/$", views.track, name="track"),
    re_path(rf"^confirm/{CONFIRM_TOKEN}/$", views.confirm_address, name="confirm"),
    re_path(r"^on/(?P<code>[^/]+)/reply/(?P<ref>[0-9a-f]{16})/$", views.reply, name="reply"),
    path("replies/email/", views.reply_mail, name="reply_mail"),
    path("replies/email/off/<str:token>/", views.reply_mail_off, name="reply_mail_off"),
]
