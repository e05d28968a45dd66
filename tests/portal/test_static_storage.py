"""The production static storage remembers each file's URL: the same URLs as whitenoise's."""

import json

import pytest
from whitenoise.storage import CompressedManifestStaticFilesStorage

from portal.lib.static_storage import StaticStorage


def storages(tmp_path):
    (tmp_path / "staticfiles.json").write_text(
        json.dumps(
            {
                "version": "1.1",
                "hash": "0",
                "paths": {"css/a b.css": "css/a b.0123456789ab.css", "js/x.js": "js/x.fedc.js"},
            }
        )
    )
    return [
        cls(location=tmp_path, base_url="/static/")
        for cls in (StaticStorage, CompressedManifestStaticFilesStorage)
    ]


def test_urls_are_whitenoises(tmp_path):
    remembered, stock = storages(tmp_path)
    for name in ["css/a b.css", "js/x.js", "css/a b.css", "js/x.js?v=1#top"]:
        assert remembered.url(name) == stock.url(name)
    assert remembered.url("css/a b.css").endswith(".0123456789ab.css")
    assert remembered.url("js/x.js", force=True) == stock.url("js/x.js", force=True)


def test_a_missing_file_is_an_error_every_time(tmp_path):
    remembered, stock = storages(tmp_path)
    for _ in range(2):
        with pytest.raises(ValueError):
            remembered.url("css/missing.css")
    assert "css/missing.css" not in remembered._urls
