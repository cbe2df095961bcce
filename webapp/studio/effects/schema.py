"""Effect parameters: the JSON Schema subset effects declare, checked once with plain messages.

An effect's `params_schema` is an object schema. The checker understands `type` (object, array,
integer, number, boolean, string), `properties`, `additionalProperties: false`, `required`,
`default`, `enum`, `const`, `minimum`/`maximum`, `minLength`/`maxLength`, `items`,
`minItems`/`maxItems`, and the studio's own keys: `x-error`/`x-code` (the message and code when a
value is refused), `x-faces` (a face-id list the page fills from its face picker), `x-labels`
(enum labels), `x-title` (title per language), `x-widget` (a page widget for a free-form value),
`x-preview` (a boolean the page shows as a button that runs the job with it on, in place).
The API and the page show the same messages, because both come from here (or from `x-error`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SUPPORTED_KEYS = {
    "type", "properties", "additionalProperties", "required", "default", "enum", "const",
    "minimum", "maximum", "multipleOf", "minLength", "maxLength", "items", "minItems", "maxItems",
    "title", "description", "x-error", "x-code", "x-faces", "x-labels", "x-title",
    "x-description", "x-widget", "x-step", "x-preview",
}  # fmt: skip
MAX_JSON_PARAM_BYTES = 64 * 1024


class ParamError(ValueError):
    """A job parameter that the effect cannot take."""

    def __init__(self, message: str, code: str = "bad_params") -> None:
        super().__init__(message)
        self.code = code


def unsupported_keys(schema: Mapping[str, Any]) -> set[str]:
    """Keys anywhere in `schema` that the checker does not understand (a contract test uses it)."""
    found = set(schema) - SUPPORTED_KEYS
    for sub in schema.get("properties", {}).values():
        found |= unsupported_keys(sub)
    if isinstance(schema.get("items"), Mapping):
        found |= unsupported_keys(schema["items"])
    return found


def _english(text: Any) -> str:
    from webapp.studio.effects.base import localized

    return localized(text, "en")


def _refuse(spec: Mapping[str, Any], message: str) -> ParamError:
    if "x-error" in spec:
        message = _english(spec["x-error"])
    return ParamError(message, spec.get("x-code", "bad_params"))


def _type_ok(value: Any, kind: str | None) -> bool:
    if kind is None:
        return True
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, {"boolean": bool, "string": str, "array": list, "object": dict}[kind])


def _describe(spec: Mapping[str, Any]) -> str:
    if "x-faces" in spec:
        return "a list of face ids (integers, 0 or more)"
    kind = spec.get("type")
    if kind == "array":
        return "a list"
    return {"integer": "an integer", "number": "a number", "boolean": "true or false",
            "string": "a string", "object": "a JSON object"}.get(kind, "a value")  # fmt: skip


def check_value(name: str, value: Any, spec: Mapping[str, Any]) -> Any:
    """`value` checked against `spec`; returns it normalised (face ids sorted, no repeats)."""
    where = f"params.{name}"
    if ("const" in spec and value != spec["const"]) or (
        "const" in spec and type(value) is not type(spec["const"])
    ):
        raise _refuse(spec, f"{where} must be {json.dumps(spec['const'])}.")
    if "enum" in spec and value not in spec["enum"]:
        raise _refuse(spec, f"{where} must be one of {', '.join(map(str, spec['enum']))}.")
    if not _type_ok(value, spec.get("type")):
        raise _refuse(spec, f"{where} must be {_describe(spec)}.")
    kind = spec.get("type")
    low, high = spec.get("minimum"), spec.get("maximum")
    if kind in ("integer", "number") and (
        (low is not None and value < low) or (high is not None and value > high)
    ):
        bounds = (
            f"between {low:g} and {high:g}"
            if None not in (low, high)
            else (f"at least {low:g}" if low is not None else f"at most {high:g}")
        )
        raise _refuse(spec, f"{where} must be {bounds}.")
    shortest, longest = spec.get("minLength", 0), spec.get("maxLength", 10_000)
    if kind == "string" and not shortest <= len(value) <= longest:
        raise _refuse(spec, f"{where} must be {shortest} to {longest} characters long.")
    if spec.get("type") == "array":
        if len(value) > spec.get("maxItems", 10_000) or len(value) < spec.get("minItems", 0):
            raise _refuse(spec, f"{where} must be {_describe(spec)} of {spec.get('minItems', 0)} "
                                f"to {spec.get('maxItems', 10_000)} items.")  # fmt: skip
        if len(json.dumps(value)) > MAX_JSON_PARAM_BYTES:
            raise _refuse(spec, f"{where} is too large.")
        items = spec.get("items")
        if isinstance(items, Mapping):
            try:
                value = [check_value(f"{name}[{i}]", item, items) for i, item in enumerate(value)]
            except ParamError as exc:
                if "x-faces" in spec:
                    raise _refuse(spec, f"{where} must be {_describe(spec)}.") from exc
                raise
        if "x-faces" in spec:
            value = sorted(set(value))
    if spec.get("type") == "object" and "properties" in spec:
        value = check_object(value, spec, prefix=f"{name}.")
    return value


def check_object(
    params: Any, schema: Mapping[str, Any], effect: str = "", prefix: str = ""
) -> dict:
    """Check `params` against an object schema; returns them with defaults filled in."""
    if not isinstance(params, dict):
        raise ParamError("params must be a JSON object.", "bad_params")
    properties: Mapping[str, Any] = schema.get("properties", {})
    if schema.get("additionalProperties", True) is False:
        unknown = sorted(set(params) - set(properties))
        if unknown:
            takes = ", ".join(sorted(properties)) or "no parameters"
            raise ParamError(
                f"{effect or 'this effect'} does not take {', '.join(unknown)}; it takes {takes}.",
                "unknown_param",
            )
    clean: dict[str, Any] = {}
    for name, spec in properties.items():
        if name in params and params[name] is not None:
            clean[name] = check_value(prefix + name, params[name], spec)
        elif name in schema.get("required", ()):
            raise _refuse(spec, f"params.{prefix}{name} is required.")
        elif "default" in spec:
            clean[name] = spec["default"]
        else:
            clean[name] = None
    return clean
