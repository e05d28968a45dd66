"""whitenoise's compressed manifest storage, each static file's URL looked up once per process.

Django's admin templates ({% static %}) and form media ask for about twenty static URLs on
every admin page; each lookup goes through the manifest, the URL's quoting and joining. The
manifest is read when the process starts and does not change while it runs, so a file's
URL is a pure function of its name: remembered here (the public pages' base.html does the
same with its own tag, portal/templatetags/site_links.py).
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage

MAX_REMEMBERED = 1000  # names come from templates and media: a few dozen


class StaticStorage(CompressedManifestStaticFilesStorage):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._urls = {}

    def url(self, name, force=False):
        if force:
            return super().url(name, force=True)
        url = self._urls.get(name)
        if url is None:
            url = super().url(name)  # a missing file raises, and is not remembered
            if len(self._urls) < MAX_REMEMBERED:
                self._urls[name] = url
        return url
