"""The API's documented objects (OpenAPI components). Field names here are the contract.

Views build plain dicts (mitigations/api/serialize.py); tests check every response against
these schemas, per role. A field visible only to some roles carries `x-visible-to` and is
not required; for everyone else it is absent (not null). The per-viewer `stamp` is also
`x-with-restricted-figures`: present only in a response that holds restricted figures.
"""

from datetime import date, datetime
from typing import Literal

from ninja import Field, Schema

RESTRICTED_ROLES = ["reviewer", "editor"]


def _restricted_extra(schema: dict) -> None:
    _absent_extra(schema)
    schema["x-visible-to"] = RESTRICTED_ROLES


def _absent_extra(schema: dict) -> None:
    """Not required, and no `default: null`: the field is absent, never null for absence."""
    schema.pop("default", None)


def _stamp_extra(schema: dict) -> None:
    _restricted_extra(schema)
    schema["x-with-restricted-figures"] = True


def expansion(description: str):
    """A field present only when asked for with `expand=`."""
    return Field(None, description=description, json_schema_extra=_absent_extra)


def restricted(description: str):
    """A field present only for reviewers and editors (absent for others)."""
    return Field(None, description=description, json_schema_extra=_restricted_extra)


def stamped():
    """The viewer's stamp: reviewers and editors, in responses holding restricted figures."""
    return Field(
        None,
        description="Who received this copy, present when the response holds preliminary or "
        "embargoed figures (reviewers and editors only): the same stamp as the JSON "
        "download's, so that a leaked copy can be traced to its account",
        json_schema_extra=_stamp_extra,
    )


class Error(Schema):
    code: str = Field(description="Machine-readable kind, e.g. `invalid_parameter`")
    message: str = Field(description="What went wrong, for people")
    parameter: str | None = Field(None, description="The query parameter at fault, if any")


class ErrorBody(Schema):
    error: Error


class CategoryRef(Schema):
    code: str = Field(description="Taxonomy code, e.g. `2.2.1`")
    name: str


class Facet(Schema):
    slug: str = Field(description="The value the list's filter takes")
    name: str


class FacetValues(Schema):
    primary: Facet | None
    other: list[Facet]


class Source(Schema):
    id: str = Field(description="The source's stable id, e.g. `uuk2024`")
    title: str
    authors: list[str] = Field(description="'Surname, Given', in order")
    year: int
    url: str = Field(description="Empty when unknown")
    doi: str = Field(description="Empty when unknown")
    abstract: str
    mitigation_count: int = Field(description="Mitigations you may see that cite it")
    html_url: str


class RelatedRef(Schema):
    id: str = Field(description="The related mitigation's id")
    name: str
    html_url: str


class Figure(Schema):
    key: str = Field(description="Stable within its mitigation")
    label: str
    value: float
    unit: str
    risk_area: str
    sample_size: int | None
    note: str
    preliminary: bool = restricted("Preliminary: may still change (reviewers and editors only)")
    embargo_until: date | None = restricted(
        "Not to be published before this date (reviewers and editors only; null: none)"
    )
    restricted: bool = restricted(
        "Preliminary or under embargo today: do not share or cite (reviewers and editors only)"
    )


class Stamp(Schema):
    notice: str = Field(description="Do not share or cite")
    seen_by: str = Field(description="`seen by USERNAME, D Mon YYYY`")
    day: date = Field(description="The day the copy was received")
    ref: str = Field(description="The viewer's mark of that day")


class Mitigation(Schema):
    id: str = Field(description="The catalogue's id, e.g. `A1427`")
    name: str
    definition: str
    additional_information: str = Field(description="Markdown")
    reasoning: str
    classified_by: Literal["classifier", "human"]
    status: Literal["draft", "polishing", "published"] = Field(
        description="`draft` only for editors (others never see drafts)"
    )
    category: CategoryRef
    lifecycle_stage: FacetValues
    actor: FacetValues
    rmf_function: FacetValues = Field(description="NIST AI RMF function")
    source_ids: list[str]
    related_ids: list[str] = Field(description="Related mitigations you may see")
    created_at: datetime
    updated_at: datetime
    html_url: str = Field(description="The mitigation's page")
    figures: list[Figure] = expansion("With `expand=figures`")
    sources: list[Source] = expansion("With `expand=sources`")
    related: list[RelatedRef] = expansion("With `expand=related`")


class MitigationDetail(Mitigation):
    stamp: Stamp = stamped()


class Page(Schema):
    count: int = Field(description="Results you may see, on all pages")
    page: int
    page_size: int
    pages: int
    next: str | None = Field(description="URL of the next page; null on the last")
    previous: str | None


class MitigationPage(Page):
    results: list[Mitigation]
    stamp: Stamp = stamped()


class SourcePage(Page):
    results: list[Source]


class FigureList(Schema):
    mitigation_id: str
    results: list[Figure]
    stamp: Stamp = stamped()


class Category(Schema):
    code: str
    name: str
    description: str
    level: int = Field(description="1 to 3")
    mitigation_count: int = Field(description="Mitigations you may see in this subtree")
    html_url: str
    children: list["Category"]


class Taxonomy(Schema):
    results: list[Category]


class Change(Schema):
    id: str
    name: str
    status: Literal["draft", "polishing", "published"]
    updated_at: datetime
    html_url: str


class ChangePage(Page):
    results: list[Change]


class Index(Schema):
    version: str
    documentation: str
    openapi: str
    endpoints: dict[str, str]
