"""The OpenAPI schema is valid, and per role it is exactly what responses carry: every
documented field for that role appears, nothing undocumented does."""

import json

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from tests.api.conftest import CALLERS, REFUSED

ROLE_OF = {
    "anonymous": "reader",
    "roleless": "reader",
    "reviewer_token": "reviewer",
    "editor_token": "editor",
}
# URL -> (path in the schema, expansions asked for)
CHECKED = {
    "/api/v1/": ("/api/v1/", set()),
    "/api/v1/mitigations": ("/api/v1/mitigations", set()),
    "/api/v1/mitigations?expand=figures,sources,related": (
        "/api/v1/mitigations",
        {"figures", "sources", "related"},
    ),
    "/api/v1/mitigations/M100": ("/api/v1/mitigations/{id}", set()),
    "/api/v1/mitigations/M100?expand=figures,sources,related": (
        "/api/v1/mitigations/{id}",
        {"figures", "sources", "related"},
    ),
    "/api/v1/mitigations/M100/figures": ("/api/v1/mitigations/{id}/figures", set()),
    "/api/v1/taxonomy": ("/api/v1/taxonomy", set()),
    "/api/v1/sources": ("/api/v1/sources", set()),
    "/api/v1/sources/matrix2024": ("/api/v1/sources/{id}", set()),
    "/api/v1/changes": ("/api/v1/changes", set()),
}


@pytest.fixture(scope="module")
def schema():
    from mitigations.api import api

    return json.loads(json.dumps(api.get_openapi_schema()))


def test_the_schema_is_valid_openapi_3_1(client, schema):
    validate(schema)
    assert schema["openapi"].startswith("3.1")
    served = json.loads(client.get("/api/v1/openapi.json").content)
    assert served == schema
    validate(served)


def test_every_endpoint_is_checked(schema):
    assert {path for path, _ in CHECKED.values()} == set(schema["paths"])


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def check_fields(schema, node, data, role, expanded, where="$", holds_restricted=False):
    """Keys of every object equal the documented ones for `role` (recursively); a field
    marked `x-with-restricted-figures` (the stamp) only when the body holds such figures."""
    node = _resolve(schema, node)
    if "anyOf" in node:
        if data is None:
            return
        node = _resolve(schema, next(v for v in node["anyOf"] if v.get("type") != "null"))
    if node.get("type") == "array":
        for i, item in enumerate(data):
            check_fields(
                schema, node["items"], item, role, expanded, f"{where}[{i}]", holds_restricted
            )
        return
    if node.get("type") != "object" or "properties" not in node:
        return
    documented = set(node["properties"])
    expected = set(node.get("required", []))
    mine = expanded if node.get("title") in ("Mitigation", "MitigationDetail") else set()
    for name, prop in node["properties"].items():
        for_role = role in prop.get("x-visible-to", ())
        if prop.get("x-with-restricted-figures"):
            for_role = for_role and holds_restricted
        if for_role or name in mine and "x-visible-to" not in prop:
            expected.add(name)
    assert set(data) - documented == set(), f"{where}: undocumented {set(data) - documented}"
    assert set(data) == expected, f"{where}: expected {sorted(expected)}, got {sorted(data)}"
    inner = set() if mine else expanded  # expansions apply to mitigations, not within them
    for name, value in data.items():
        check_fields(
            schema, node["properties"][name], value, role, inner, f"{where}.{name}",
            holds_restricted,
        )  # fmt: skip


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in REFUSED], indirect=True)
def test_responses_carry_exactly_the_documented_fields_per_role(world, caller, schema):
    name, client = caller
    role = ROLE_OF[name]
    validator_root = {"components": schema["components"]}
    for url, (path, expanded) in CHECKED.items():
        response = client.get(url)
        assert response.status_code == 200, url
        data = json.loads(response.content)
        documented = schema["paths"][path]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
        OAS31Validator({**validator_root, **documented}).validate(data)
        holds_restricted = b'"restricted":true' in response.content
        check_fields(schema, documented, data, role, expanded, url, holds_restricted)
        if "figures" in expanded or url.endswith("/figures"):
            assert "fig_public" in response.content.decode()  # figures were there to check
            # The canary page has restricted figures: the stamp's rule was exercised.
            assert ("stamp" in data) == (role in ("reviewer", "editor")), url
        elif url != "/api/v1/":
            assert "stamp" not in data, url


def test_errors_are_documented_and_match(client, schema):
    response = client.get("/api/v1/mitigations?fields=nope")
    documented = schema["paths"]["/api/v1/mitigations"]["get"]["responses"]["400"]
    body = json.loads(response.content)
    OAS31Validator(
        {"components": schema["components"], **documented["content"]["application/json"]["schema"]}
    ).validate(body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "parameter"}
