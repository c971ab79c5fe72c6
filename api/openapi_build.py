"""The building blocks of the OpenAPI document (api/openapi.py): schema shorthands and
one operation with its error answers."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

JSON = "application/json"


# ------------------------------------------------------------------ helpers

def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(properties: dict[str, Schema], required: tuple[str, ...] | None = None, **extra: Any) -> Schema:
    """An object schema; every property required unless ``required`` says otherwise."""
    out: Schema = {"type": "object", "properties": properties,
                   "required": list(properties) if required is None else list(required)}
    out.update(extra)
    return out


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


ERRORS = {
    400: "bad input: the message says what is wrong",
    401: "no valid API token or session (only with use_auth on)",
    404: "not found",
    409: "conflict: the message says why",
    413: "request too large",
    416: "range not satisfiable",
    502: "a provider or an *arr answered an error",
}


def error(status: int) -> Schema:
    return json_response(ERRORS[status], ref("Error"))


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": STR, "description": description}


def json_body(schema: Schema, description: str = "", required: bool = True) -> Schema:
    body: Schema = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def op(summary: str, tag: str, ok: dict[int, Schema], *, errors: tuple[int, ...] = (), public: bool = False,
       params: list[Schema] | None = None, body: Schema | None = None, description: str = "",
       operation_id: str = "") -> Schema:
    """One operation. Guarded operations answer 401 without credentials when use_auth is on."""
    responses: dict[str, Schema] = {str(status): answer for status, answer in ok.items()}
    for status in sorted(set(errors) | (set() if public else {401})):
        responses[str(status)] = error(status)
    out: Schema = {"summary": summary, "tags": [tag], "responses": responses}
    if operation_id:
        out["operationId"] = operation_id
    if description:
        out["description"] = description
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = body
    if public:
        out["security"] = []
    return out
