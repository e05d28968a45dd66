"""`{% static %}` and `{% site_url %}` for the links every page repeats (base.html: the
navigation, the footer, the stylesheets): resolved once per process instead of once per
link and request (reverse() and the static manifest cost more than the rest of the page
header). The values are Django's own: `static` is django.templatetags.static's, `site_url`
is reverse() remembered per URLconf and script prefix (set per request by the handler).
Only for links without request-dependent parts."""

import functools

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static as django_static
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()


@functools.lru_cache(maxsize=256)
def _static(path):
    return django_static(path)


@functools.lru_cache(maxsize=256)
def _reverse(name, args, urlconf, prefix):
    return reverse(name, urlconf=urlconf, args=args)


@receiver(setting_changed)
def _forget(**kwargs):
    """Static storage, URLconfs and prefixes follow settings (tests override them)."""
    _static.cache_clear()
    _reverse.cache_clear()


@register.simple_tag
def static(path):
    """django's `{% static path %}` (the same URL), looked up once per process."""
    return _static(path)


@register.simple_tag
def site_url(name, *args):
    """`{% url name args %}` for links that are the same on every page, reversed once per
    URLconf and script prefix."""
    return _reverse(name, tuple(str(a) for a in args), get_urlconf(), get_script_prefix())
