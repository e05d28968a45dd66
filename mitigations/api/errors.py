"""The API's one error shape: {"error": {"code", "message", "parameter"?}} with a 4xx."""

import json

from django.http import HttpResponse


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, parameter=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.parameter, self.headers = parameter, headers or {}


def error_response(status, code, message, *, parameter=None, headers=None) -> HttpResponse:
    error = {"code": code, "message": message}
    if parameter:
        error["parameter"] = parameter
    response = HttpResponse(
        json.dumps({"error": error}, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def from_exception(exc: ApiError) -> HttpResponse:
    return error_response(
        exc.status, exc.code, exc.message, parameter=exc.parameter, headers=exc.headers
    )
