"""OpenAPI details drf-spectacular cannot infer: the authentication schemes and the
problem+json answers every operation may give (apps.api.problems)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.core.problems import PROBLEM_CONTENT_TYPE, TITLES


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; keys come from `manage.py create_api_key USERNAME` or admin.",
        }


class OidcBearerScheme(OpenApiAuthenticationExtension):
    target_class = "mozilla_django_oidc.contrib.drf.OIDCAuthentication"
    name = "OidcBearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from the OpenID Connect provider.",
        }


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem detail.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "urn:approval-inbox:problem:task-conflict"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "The last part of `type`."},
        "instance": {"type": "string", "description": "The request path."},
        "request_id": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Field (dotted path) -> messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

WHEN = {
    400: "The request is malformed or its values are not valid (see `errors`).",
    401: "No credentials, or credentials that are not valid.",
    403: "The caller may see the object but not do this.",
    404: "No such object, or one outside the caller's reach.",
    405: "The method is not offered on this path.",
    406: "No representation the caller accepts.",
    409: "The object's state forbids this now (e.g. someone else claimed the task).",
    412: "If-Match names a version that is no longer current.",
    413: "The request body is too large.",
    415: "The body is not JSON.",
    422: "The Idempotency-Key was already used for a different request.",
    429: "Too many requests; retry after the number of seconds in Retry-After.",
    503: "The database cannot be reached just now and nothing was changed; retry after Retry-After seconds.",
}


def add_problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: a Problem component, and every error status on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = [400, 401, 403, 404, 405, 406, 429, 503]
            if method != "get":
                codes += [409, 412, 413, 415, 422]
            for code in codes:
                answer: dict[str, Any] = {"description": f"{TITLES[code]}. {WHEN[code]}", "content": problem}
                if code in (429, 503):
                    answer["headers"] = {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
                    }
                responses.setdefault(str(code), answer)
    return result
