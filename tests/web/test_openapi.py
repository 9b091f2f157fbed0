"""The OpenAPI document describes what readers get back: a schema for every JSON answer of their routes."""

from __future__ import annotations

from gateway.anomaly_kinds import NAMES
from gateway.http.analyst_routes import openapi_document


def test_every_reader_route_has_a_response_schema() -> None:
    doc = openapi_document()
    missing = [
        f"{method} {path}"
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if "analyst" in operation.get("tags", [])
        and "application/json" in operation["responses"]["200"]["content"]  # not a file download
        and "schema" not in operation["responses"]["200"]["content"]["application/json"]
    ]
    assert not missing, missing


def test_the_kind_enum_is_the_one_list_of_kinds() -> None:
    assert openapi_document()["components"]["schemas"]["AnomalyKind"]["enum"] == list(NAMES)


def test_every_api_operation_names_lang_which_every_answer_speaks() -> None:
    missing = [
        f"{method} {path}"
        for path, operations in openapi_document()["paths"].items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
        if not any(p["name"] == "lang" and p["in"] == "query" for p in operation.get("parameters", ()))
    ]
    assert not missing, missing
