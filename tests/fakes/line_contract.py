"""Contract checks shared by the LINE fakes: the official OpenAPI specs plus what they leave out.

Three layers, each reported with its own ``kind``:

``openapi``
    openapi-core 0.23 ``validate_request`` against ``tests/contracts/line/*.yml`` (paths, servers,
    security, parameters, content type, top-level body schema).
``schema``
    The same spec, re-checked with discriminators honoured. The LINE specs use the
    "parent with a discriminator mapping" pattern (``Message``, ``Action``, ``FlexComponent``,
    ``Event``, ``MessageContent`` …) *without* ``oneOf``. openapi-schema-validator only applies a
    discriminator next to ``oneOf/anyOf/allOf``, so openapi-core alone accepts
    ``{"type": "text"}`` (no ``text``), ``{"type": "bogus"}`` or a Flex message without ``contents``.
``docs``
    Limits stated in LINE's documentation but not encoded in the spec (text length, altText,
    action labels, URI schemes …), see :data:`DOCS_LIMITS`.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend
from openapi_core import OpenAPI
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4
from werkzeug.datastructures import Headers

#: The spec copies that live in the repo (see tests/contracts/line/SOURCE.md).
CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts" / "line"
MESSAGING_API_SPEC = CONTRACTS_DIR / "messaging-api.yml"
WEBHOOK_SPEC = CONTRACTS_DIR / "webhook.yml"

API_HOST = "https://api.line.me"
API_DATA_HOST = "https://api-data.line.me"

#: Limits from the LINE Messaging API reference that the OpenAPI spec does not encode.
#: Text lengths count UTF-16 code units; action labels count grapheme clusters
#: (https://developers.line.biz/en/docs/messaging-api/text-character-count/).
DOCS_LIMITS: dict[str, int] = {
    "text.text": 5000,  # text message
    "flex.altText": 1500,  # Flex Message
    "template.altText": 400,  # template message
    "imagemap.altText": 400,
    "label.quickReply": 20,  # quick reply button: label required
    "label.template": 20,  # buttons / confirm / carousel template actions
    "label.imageCarousel": 12,
    "label.flex": 40,  # Flex components (required on a button)
    "action.text": 300,  # message action
    "action.displayText": 300,  # postback action
    "uri": 1000,  # URI action uri / altUri.desktop
}
URI_SCHEMES = ("http", "https", "line", "tel")
#: Endpoints that accept X-Line-Retry-Key; any other endpoint answers 400 when it is sent.
RETRY_KEY_PATHS = frozenset(
    {"/v2/bot/message/push", "/v2/bot/message/multicast", "/v2/bot/message/narrowcast", "/v2/bot/message/broadcast"}
)
CHAT_ID = re.compile(r"^[UCR][0-9a-f]{32}$")


@dataclass(frozen=True)
class Problem:
    """One contract problem: a JSON property path (LINE style, ``messages[0].text``) and a message."""

    property: str
    message: str

    def __str__(self) -> str:
        return f"{self.property or '<request>'}: {self.message}"


@dataclass
class HttpRequest:
    """An openapi-core ``Request`` built from a real HTTP request (host rewritten to LINE's)."""

    host_url: str
    path: str
    method: str
    headers: Headers
    body: bytes
    content_type: str
    query: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import ImmutableMultiDict

        self.method = self.method.lower()
        self.parameters = RequestParameters(
            path={}, query=ImmutableMultiDict(self.query), header=self.headers, cookie=ImmutableMultiDict()
        )


@dataclass
class HttpResponse:
    """An openapi-core ``Response`` built from what the fake is about to send."""

    data: bytes
    status_code: int
    content_type: str
    headers: Headers


# --------------------------------------------------------------------------- spec loading


@cache
def openapi(path: Path = MESSAGING_API_SPEC) -> OpenAPI:
    """openapi-core view of a spec (loaded once per process; ~0.2 s)."""
    return OpenAPI.from_file_path(str(path))


@cache
def warm_up() -> None:
    """Validate one reply request/response so openapi-core builds its validators now (~0.2 s, once
    per process) instead of inside the first request of a test with a short client timeout."""
    spec = openapi(MESSAGING_API_SPEC)
    body = b'{"replyToken":"t","messages":[{"type":"text","text":"warm-up"}]}'
    req = HttpRequest(
        API_HOST,
        "/v2/bot/message/reply",
        "post",
        Headers({"Authorization": "Bearer t", "Content-Type": "application/json"}),
        body,
        "application/json",
    )
    spec.validate_request(req)
    spec.validate_response(req, HttpResponse(b'{"sentMessages":[{"id":"1"}]}', 200, "application/json", Headers()))
    strict_schema_problems(json.loads(body), "#/components/schemas/ReplyMessageRequest")


@cache
def spec_dict(path: Path = MESSAGING_API_SPEC) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class Operation:
    path_pattern: str
    method: str
    operation_id: str
    body_schema_ref: str | None
    statuses: frozenset[str]


@cache
def _operations(path: Path) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    out = []
    for pattern, item in spec_dict(path)["paths"].items():
        regex = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(pattern)) + "$")
        out.append((regex, pattern, item))
    # Literal paths before templated ones ("/v2/bot/richmenu/list" vs "/v2/bot/richmenu/{id}").
    out.sort(key=lambda t: t[1].count("{"))
    return out


def find_operation(path: str, method: str, spec: Path = MESSAGING_API_SPEC) -> Operation | None:
    """The spec operation for a concrete path + method, or None."""
    for regex, pattern, item in _operations(spec):
        if regex.match(path) and method.lower() in item:
            op = item[method.lower()]
            ref = None
            content = (op.get("requestBody") or {}).get("content") or {}
            schema = (content.get("application/json") or {}).get("schema") or {}
            ref = schema.get("$ref")
            return Operation(
                pattern, method.lower(), op.get("operationId", ""), ref, frozenset(op.get("responses", {}))
            )
    return None


def host_for(path: str, method: str, spec: Path = MESSAGING_API_SPEC) -> str:
    """api.line.me, or the per-operation server (api-data.line.me for content downloads)."""
    op = find_operation(path, method, spec)
    if op is not None:
        servers = spec_dict(spec)["paths"][op.path_pattern][op.method].get("servers")
        if servers:
            return str(servers[0]["url"])
    return API_HOST


# --------------------------------------------------------------------------- strict (discriminator) layer

_guard = threading.local()


def _discriminator(
    validator: Any, discriminator: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """Dispatch a parent schema to the subtype its discriminator names (only when no oneOf/anyOf/allOf)."""
    if any(k in schema for k in ("oneOf", "anyOf", "allOf")) or not validator.is_type(instance, "object"):
        return  # openapi-schema-validator handles the combinator case itself
    prop = discriminator["propertyName"]
    if prop not in instance:
        return  # "required" reports it where the spec requires it
    mapping = discriminator.get("mapping") or {}
    value = instance[prop]
    ref = mapping.get(value) if isinstance(value, str) else None
    if ref is None:
        yield ValidationError(f"{value!r} is not a known {prop!r}; expected one of {sorted(mapping)}")
        return
    active: set[tuple[int, str]] = _guard.__dict__.setdefault("active", set())
    key = (id(instance), ref)
    if key in active:  # the subtype's allOf points back at this parent: already dispatching
        return
    active.add(key)
    try:
        yield from validator.descend(instance, {"$ref": ref})
    except Unresolvable:
        yield ValidationError(f"{ref!r} could not be resolved")
    finally:
        active.discard(key)


_StrictValidator = extend(OAS30Validator, {"discriminator": _discriminator})


def _json_path(path: Iterator[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@cache
def _registry(spec: Path) -> tuple[str, Registry]:
    uri = f"urn:tsunagu-contract:{spec.name}"
    resource = Resource.from_contents(spec_dict(spec), default_specification=DRAFT4)
    return uri, Registry().with_resource(uri, resource)


def strict_schema_problems(instance: Any, schema_ref: str, spec: Path = MESSAGING_API_SPEC) -> list[Problem]:
    """Validate ``instance`` against ``#/components/schemas/X`` with discriminators applied."""
    uri, registry = _registry(spec)
    validator = _StrictValidator(
        {"$ref": uri + schema_ref}, registry=registry, format_checker=OAS30Validator.FORMAT_CHECKER
    )
    problems = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_leaf_problems(err))
    return _dedupe(problems)


def _leaf_problems(err: ValidationError) -> list[Problem]:
    if err.context:  # anyOf/oneOf: report the concrete reasons
        return [p for sub in err.context for p in _leaf_problems(sub)]
    bounds = {
        "maxItems": ("at most", "items"),
        "minItems": ("at least", "items"),
        "maxLength": ("at most", "characters"),
        "minLength": ("at least", "characters"),
    }
    if err.validator in bounds and hasattr(err.instance, "__len__"):
        word, unit = bounds[str(err.validator)]
        message = f"must have {word} {err.validator_value} {unit}; got {len(err.instance)}"
    else:
        message = err.message if len(err.message) <= 200 else err.message[:197] + "..."
    return [Problem(_json_path(iter(err.absolute_path)), message)]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def openapi_core_problems(exc: Exception) -> list[Problem]:
    """Flatten an openapi-core exception (and its schema errors) into Problems."""
    cause = exc.__cause__
    schema_errors = getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None)
    if schema_errors:
        out = []
        for err in schema_errors:
            out.extend(_leaf_problems(err))
        prefix = ""
        name = getattr(exc, "name", None)
        if name:  # a parameter
            prefix = f"{name}"
            out = [Problem(prefix + ("." + p.property if p.property else ""), p.message) for p in out]
        return _dedupe(out)
    return [Problem("", f"{type(exc).__name__}: {exc}" + (f" ({cause})" if cause else ""))]


# --------------------------------------------------------------------------- docs layer


def utf16_len(text: str) -> int:
    """Length as LINE counts text: UTF-16 code units (🍎 counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def grapheme_len(text: str) -> int:
    """Approximate grapheme clusters (LINE counts action labels this way): combining marks,
    variation selectors, skin-tone modifiers and ZWJ-joined parts do not add a character."""
    count, joined = 0, False
    for ch in text:
        cp = ord(ch)
        if ch == "\u200d":
            joined = True
            continue
        if unicodedata.combining(ch) or 0xFE00 <= cp <= 0xFE0F or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
            continue
        if joined:
            joined = False
            continue
        count += 1
    return count


def _check_len(
    problems: list[Problem], where: str, value: Any, limit_key: str, *, minimum: int = 0, graphemes: bool = False
) -> None:
    if not isinstance(value, str):
        return
    n = grapheme_len(value) if graphemes else utf16_len(value)
    limit = DOCS_LIMITS[limit_key]
    if n > limit or n < minimum:
        unit = "characters" if graphemes else "UTF-16 units"
        problems.append(Problem(where, f"Length must be between {minimum} and {limit} ({unit}); got {n}"))


def _check_uri(problems: list[Problem], where: str, uri: Any) -> None:
    if not isinstance(uri, str):
        return
    _check_len(problems, where, uri, "uri", minimum=1)
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme not in URI_SCHEMES:
        problems.append(Problem(where, f"URI scheme must be one of {URI_SCHEMES}; got {uri[:40]!r}"))
    elif scheme == "tel":
        number = uri[4:]
        # RFC 3966: '#' must be percent-encoded (tel:%239110); a raw '#' starts a URI fragment.
        if "#" in number or not re.search(r"[0-9]", number):
            problems.append(Problem(where, f"tel: URI must hold a number and encode '#' as %23; got {uri!r}"))


def _check_action(problems: list[Problem], where: str, action: Any, context: str, *, label_required: bool) -> None:
    if not isinstance(action, dict):
        return
    label = action.get("label")
    limit_key = {
        "quickReply": "label.quickReply",
        "template": "label.template",
        "imageCarousel": "label.imageCarousel",
        "flex": "label.flex",
    }[context]
    if label is None:
        if label_required:
            problems.append(Problem(f"{where}.label", "May not be empty (label is required here)"))
    else:
        _check_len(problems, f"{where}.label", label, limit_key, minimum=1, graphemes=True)
    kind = action.get("type")
    if kind == "uri":
        if "uri" not in action:
            problems.append(Problem(f"{where}.uri", "May not be empty"))
        _check_uri(problems, f"{where}.uri", action.get("uri"))
        desktop = (action.get("altUri") or {}).get("desktop")
        if desktop is not None:
            _check_uri(problems, f"{where}.altUri.desktop", desktop)
    elif kind == "message":
        if not action.get("text"):
            problems.append(Problem(f"{where}.text", "May not be empty"))
        _check_len(problems, f"{where}.text", action.get("text"), "action.text")
    elif kind == "postback":
        _check_len(problems, f"{where}.displayText", action.get("displayText"), "action.displayText")
        if context == "quickReply" and not action.get("displayText") and not action.get("text"):
            problems.append(Problem(f"{where}.displayText", "Required for a postback action in a quick reply"))


def _walk_flex(problems: list[Problem], where: str, node: Any) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk_flex(problems, f"{where}[{i}]", item)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "action":
            _check_action(problems, f"{where}.{key}", value, "flex", label_required=node.get("type") == "button")
        elif isinstance(value, (dict, list)):
            _walk_flex(problems, f"{where}.{key}", value)


def _walk_template(problems: list[Problem], where: str, template: Any) -> None:
    if not isinstance(template, dict):
        return
    image_carousel = template.get("type") == "image_carousel"
    for i, action in enumerate(template.get("actions") or []):
        _check_action(problems, f"{where}.actions[{i}]", action, "template", label_required=True)
    if "defaultAction" in template:
        _check_action(problems, f"{where}.defaultAction", template["defaultAction"], "template", label_required=False)
    for c, column in enumerate(template.get("columns") or []):
        col = f"{where}.columns[{c}]"
        if not isinstance(column, dict):
            continue
        if image_carousel:
            _check_action(problems, f"{col}.action", column.get("action"), "imageCarousel", label_required=False)
        for i, action in enumerate(column.get("actions") or []):
            _check_action(problems, f"{col}.actions[{i}]", action, "template", label_required=True)
        if "defaultAction" in column:
            _check_action(problems, f"{col}.defaultAction", column["defaultAction"], "template", label_required=False)


def message_docs_problems(messages: Any, prefix: str = "messages") -> list[Problem]:
    """Documented per-message limits (see :data:`DOCS_LIMITS`) for a ``messages`` array."""
    problems: list[Problem] = []
    if not isinstance(messages, list):
        return problems
    for i, msg in enumerate(messages):
        where = f"{prefix}[{i}]"
        if not isinstance(msg, dict):
            continue
        kind = msg.get("type")
        if kind == "text":
            _check_len(problems, f"{where}.text", msg.get("text"), "text.text", minimum=1)
        elif kind == "flex":
            _check_len(problems, f"{where}.altText", msg.get("altText"), "flex.altText", minimum=1)
            _walk_flex(problems, f"{where}.contents", msg.get("contents"))
        elif kind == "template":
            _check_len(problems, f"{where}.altText", msg.get("altText"), "template.altText", minimum=1)
            _walk_template(problems, f"{where}.template", msg.get("template"))
        elif kind == "imagemap":
            _check_len(problems, f"{where}.altText", msg.get("altText"), "imagemap.altText", minimum=1)
        items = ((msg.get("quickReply") or {}).get("items")) if isinstance(msg.get("quickReply"), dict) else None
        for j, item in enumerate(items or []):
            if isinstance(item, dict):
                _check_action(
                    problems,
                    f"{where}.quickReply.items[{j}].action",
                    item.get("action"),
                    "quickReply",
                    label_required=True,
                )
    return problems


def request_docs_problems(path: str, headers: Headers, body: Any) -> list[Problem]:
    """Documented request rules that the spec does not encode."""
    problems: list[Problem] = []
    if headers.get("X-Line-Retry-Key") is not None and path not in RETRY_KEY_PATHS:
        problems.append(
            Problem("X-Line-Retry-Key", "The retry key can only be used with push/multicast/narrowcast/broadcast")
        )
    if not isinstance(body, dict):
        return problems
    if path == "/v2/bot/message/push" and isinstance(body.get("to"), str) and not CHAT_ID.match(body["to"]):
        problems.append(Problem("to", "The property, 'to', in the request body is invalid (expected U/C/R + 32 hex)"))
    if path == "/v2/bot/chat/loading/start":
        seconds = body.get("loadingSeconds")
        if isinstance(seconds, int) and seconds % 5:
            problems.append(Problem("loadingSeconds", "Must be a multiple of 5"))
    if "messages" in body:
        problems.extend(message_docs_problems(body["messages"]))
    return problems


def parse_json(body: bytes) -> Any:
    """Parsed JSON or None (bodies that are not JSON are left to openapi-core to reject)."""
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
