"""Tolerant parsing of provider answers (protocol.md §7). Pure functions, no I/O.

Every parser takes a screened :class:`Body` and returns a typed result or raises a
:class:`ProviderError`. Whatever is not recognisably a success is an error, never a success.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, TypeVar

from bot.provider.errors import (
    KNOWN_CODES,
    ActionNotSupported,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from bot.provider.models import (
    ActivationStatus,
    ActiveActivation,
    Balance,
    Country,
    PriceInfo,
    PriceOffer,
    Prices,
    ProviderTier,
    Purchase,
    RentHistoryItem,
    RentListItem,
    RentPrice,
    RentPrices,
    RentPurchase,
    RentSms,
    RentStatus,
    Service,
    StatusV2,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Human sentences some providers answer instead of a code (matched case-insensitively,
# without a trailing full stop).
SENTENCE_CODES: dict[str, str] = {
    "the service is prohibited for sale by administration": "SERVICE_PROHIBITED",
    "service is incorrect": "BAD_SERVICE",
    "country is incorrect": "BAD_COUNTRY",
}
# sms-activate could send this placeholder in STATUS_OK while no code is known yet.
NO_CODE_PLACEHOLDER = "Нет кода"

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_CLOUDFLARE_1020 = re.compile(r"error\s*(code)?\s*:?\s*1020", re.IGNORECASE)
_HTML_RE = re.compile(r"^<(!doctype|html|head|body|\?xml)|<html[\s>]", re.IGNORECASE)
_PHONE_STRIP = re.compile(r"[\s+\-()]")
_LANGUAGE_SKIP = {"id", "visible", "retry", "rent", "multiservice", "multi_service"}
# A problem title written as words ("Not Found") reads as the code NOT_FOUND.
_TITLE_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[ _-][A-Za-z0-9]+){0,5}")
# Titles that only say "this is an error": the code is then in error/message/msg.
_GENERIC_TITLES = frozenset({"ERROR", "FAIL", "FAILED", "FAILURE"})
_ERROR_FIELDS = ("error", "message", "msg")

# The list answers whose malformed items are dropped one by one (and counted here, for
# /metrics): a fixed set, so the counter stays bounded whatever a provider sends.
LIST_ACTIONS: tuple[str, ...] = (
    "getActiveActivations",
    "getRentStatus",
    "getRentHistory",
    "getRentList",
    "getServicesList",
    "getCountries",
)
_dropped: dict[str, int] = dict.fromkeys(LIST_ACTIONS, 0)


@dataclass(frozen=True, slots=True)
class Reply:
    """A raw HTTP answer."""

    status: int
    headers: Mapping[str, str]
    text: str


@dataclass(frozen=True, slots=True)
class Body:
    """A screened body: JSON when it parses as JSON, else cleaned text."""

    text: str
    data: Any = None
    is_json: bool = False


# --------------------------------------------------------------------------- basics


def decode(raw: bytes, charset: str | None = None) -> str:
    """The body as text in the charset its Content-Type names (UTF-8 when none or unknown).

    Bytes that do not decode make the answer garbled, never text with replacement characters
    that a parser could still read as a code or a number.
    """
    try:
        codec = codecs.lookup(charset).name if charset else "utf-8"
    except LookupError:
        codec = "utf-8"
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        raise garbled() from None


def clean_text(text: str) -> str:
    """Strip BOM and whitespace, then one level of wrapping quotes ("X" or 'X')."""
    cleaned = text.replace("\ufeff", "").strip()
    if len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in "\"'":
        cleaned = cleaned[1:-1].strip()
    return cleaned


def sniff(text: str) -> Body:
    """JSON when the body looks like JSON and parses; text otherwise (Content-Type is ignored)."""
    cleaned = text.replace("\ufeff", "").strip()
    if cleaned[:1] in ("{", "[") or cleaned == "null":
        try:
            return Body(text=cleaned, data=json.loads(cleaned), is_json=True)
        except ValueError:
            return Body(text=cleaned)
    return Body(text=clean_text(cleaned))


def split_code(text: str) -> tuple[str, str | None]:
    """'WRONG_MAX_PRICE:0.5' -> ('WRONG_MAX_PRICE', '0.5'); split on the FIRST colon only."""
    code, sep, payload = text.partition(":")
    return code.strip(), (payload if sep else None)


def sentence_code(text: str) -> str | None:
    return SENTENCE_CODES.get(text.strip().rstrip(".").strip().lower())


def make_error(code: str, payload: str | None = None, **kwargs: Any) -> ProviderError:
    cls = ActionNotSupported if code == "BAD_ACTION" else ProviderError
    return cls(code, payload, **kwargs)


def garbled(http_status: int | None = None) -> ProviderUnavailable:
    return ProviderUnavailable("GARBLED", http_status=http_status)


def error_from_message(message: str) -> ProviderError:
    """An error from a text body or a JSON error field: a code, a sentence or anything else."""
    message = clean_text(message)
    known_sentence = sentence_code(message)
    if known_sentence:
        return make_error(known_sentence)
    code, payload = split_code(message)
    if code in KNOWN_CODES or _CODE_RE.match(code):
        # An unknown uppercase code is still an error (never a success).
        return make_error(code, payload)
    if not _readable_sentence(message):
        return garbled()
    return ProviderError("UNRECOGNISED", message[:120])


def _readable_sentence(text: str) -> bool:
    """Plausibly a human sentence from the provider, not broken JSON or binary noise."""
    if not text or text[:1] in "{[" or len(text) > 300 or "\ufffd" in text:
        return False
    return all(char.isprintable() or char in "\t\r\n" for char in text)


def text_error(text: str) -> ProviderError | None:
    """A recognised error in a text body, or None."""
    if sentence_code(text):
        return make_error(sentence_code(text) or "")
    code, payload = split_code(text)
    return make_error(code, payload) if code in KNOWN_CODES else None


def json_error(data: Any) -> ProviderError | None:
    """A recognised error in a JSON body: a problem object (hero-sms, RFC 7807), or
    {"status": "error" | false | 0 | an HTTP error status, error|message|msg}."""
    if not isinstance(data, dict):
        return None
    data = strip_keys(data)
    if is_problem(data):
        return problem_error(data)
    status = data.get("status")
    failed = (
        status in ("error", "false", False, 0, "0")
        or _http_error_status(status)
        or (status is None and any(key in data for key in _ERROR_FIELDS))
    )
    if not failed:
        return None
    message = _error_field(data)
    return error_from_message(message) if message else garbled()


def _error_field(data: Mapping[str, Any]) -> str | None:
    for key in _ERROR_FIELDS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _http_error_status(status: Any) -> bool:
    """RFC 7807 repeats the HTTP status in the body: 4xx/5xx there is an error."""
    return type(status) is int and 400 <= status <= 599


def _says_success(status: Any) -> bool:
    if status is True:
        return True
    return isinstance(status, str) and status.strip().lower() in ("success", "ok")


def is_problem(data: Mapping[str, Any]) -> bool:
    """A problem object: a non-blank `title` (with or without detail/details/info, RFC 7807 or
    hero-sms) in an answer that does not say it succeeded."""
    title = data.get("title")
    return isinstance(title, str) and bool(title.strip()) and not _says_success(data.get("status"))


def _title_code(title: str) -> str | None:
    """The code a problem title names: a code as is, a known sentence, or a few words
    ("Not Found" -> NOT_FOUND); None for anything longer or stranger."""
    if _CODE_RE.match(title):
        return title
    known = sentence_code(title)
    if known:
        return known
    if _TITLE_WORDS.fullmatch(title):
        return re.sub(r"[ -]", "_", title).upper()
    return None


def problem_error(data: Mapping[str, Any]) -> ProviderError:
    """{"title": CODE, "details"|"detail": ..., "info": {...}}: the error the title names."""
    title = str(data["title"]).strip()
    code = _title_code(title)
    if code in _GENERIC_TITLES and _error_field(data):
        return error_from_message(_error_field(data) or "")
    if code is None:
        return error_from_message(title)
    raw_info = data.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    detail = data.get("details", data.get("detail"))
    payload: str | None = None
    if code == "WRONG_MAX_PRICE" and info.get("min") is not None:
        payload = str(info["min"])
    elif code == "BANNED" and info.get("banned_until") is not None:
        payload = str(info["banned_until"])
    elif isinstance(detail, str):
        payload = detail.strip() or None
    return make_error(code, payload)


def fail(body: Body) -> NoReturn:
    """Raise the best error for a body that is not the expected success."""
    if body.is_json:
        raise json_error(body.data) or garbled()
    if not body.text:
        raise garbled()
    raise error_from_message(body.text)


# --------------------------------------------------------------------------- HTTP screening


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def looks_html(text: str) -> bool:
    return bool(_HTML_RE.search(text[:512]))


def screen(reply: Reply) -> Body:
    """Turn HTTP-level trouble into errors; return the sniffed body of a usable answer.

    Business errors normally come inside HTTP 200; a non-2xx answer is an error even when its
    body looks like a success (protocol.md §7.1).
    """
    status = reply.status
    text = reply.text.replace("\ufeff", "").strip()
    # A JSON-looking body is never sniffed for HTML or Cloudflare: anyone can text a rented
    # number "<html>" or "error code: 1020", and that must not make a listing a page.
    json_like = text[:1] in ("{", "[")
    cloudflare = not json_like and _CLOUDFLARE_1020.search(text[:2048])
    if status == 429 or cloudflare:
        code = f"HTTP_{status}" if status != 200 else "HTML"
        raise RateLimited(
            code,
            "1020" if status != 429 else None,
            http_status=status,
            retry_after=retry_after_seconds(reply.headers),
        )
    if not json_like and looks_html(text):
        code = "HTML" if 200 <= status < 300 else f"HTTP_{status}"
        raise ProviderUnavailable(code, "HTML page", http_status=status)
    if status >= 500:
        raise ProviderUnavailable(f"HTTP_{status}", http_status=status)
    body = sniff(text)
    if 200 <= status < 300:
        return body
    # 3xx/4xx: only a recognisable provider error is a definite answer.
    error = json_error(body.data) if body.is_json else text_error(body.text)
    if error is not None and error.code != "GARBLED":
        error.http_status = status
        raise error
    raise ProviderUnavailable(f"HTTP_{status}", http_status=status)


# --------------------------------------------------------------------------- loose typing


def strip_keys(data: Mapping[Any, Any]) -> dict[str, Any]:
    """{"0 ": ..., "phoneFrom ": ...} -> {"0": ..., "phoneFrom": ...}."""
    return {str(key).strip(): value for key, value in data.items()}


def as_str(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def as_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or value is None:
        return default
    try:
        return int(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        return default


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes"):
            return True
        if lowered in ("0", "false", "no"):
            return False
    return None


def as_permission(data: Mapping[str, Any], key: str) -> bool | None:
    """A yes/no field such as canGetAnotherSms: only a missing field (or null) is unknown;
    "", "0", 0, false and anything else that is not a clear yes mean "not allowed"."""
    value = data.get(key)
    if value is None:
        return None
    return as_bool(value) is True


def as_phone(value: Any) -> str | None:
    text = as_str(value)
    return _PHONE_STRIP.sub("", text) or None if text else None


def parse_time(value: Any) -> datetime | float | None:
    """A datetime (naive or aware) for date strings, a float for epoch numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return float(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def epoch_if_zoned(value: Any) -> float | None:
    """Epoch seconds when the time is unambiguous (numeric or with a zone), else None."""
    parsed = parse_time(value)
    if isinstance(parsed, float):
        return parsed
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        return parsed.timestamp()
    return None


def seconds_between(start: Any, end: Any) -> float | None:
    first, second = parse_time(start), parse_time(end)
    if isinstance(first, float) and isinstance(second, float):
        return second - first
    if isinstance(first, datetime) and isinstance(second, datetime):
        if (first.tzinfo is None) != (second.tzinfo is None):
            return None
        return (second - first).total_seconds()
    return None


def _json_dict(body: Body) -> dict[str, Any]:
    """The body as a key-stripped JSON object whose status is not an error, or raise."""
    if not body.is_json or not isinstance(body.data, dict):
        fail(body)
    error = json_error(body.data)
    if error is not None:
        raise error
    return strip_keys(body.data)


def _items(values: Any) -> list[Any]:
    """A PHP-ish collection: list, {} / [] for empty, or a dict keyed by index strings."""
    if values is None:
        return []
    if isinstance(values, list):
        return values
    if isinstance(values, dict):
        keyed = strip_keys(values)
        return [keyed[key] for key in sorted(keyed, key=_index_order)]
    raise garbled()


def _index_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 62, key)


def _list_value(value: Any) -> list[Any] | None:
    """A list in any of PHP's forms, or None when the value is not a list at all.

    null, {} and [] are empty; an object keyed by index strings is a list; hero-sms wraps rows
    as {"rows": [...]} (or "row").
    """
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return None
    keyed = strip_keys(value)
    if not keyed:
        return []
    for inner in ("rows", "row"):
        if isinstance(keyed.get(inner), list):
            return keyed[inner]
    if all(key.isdigit() for key in keyed):
        return [keyed[key] for key in sorted(keyed, key=int)]
    return None


def dropped_items() -> dict[str, int]:
    """Malformed list items dropped so far, per action (only actions that dropped some)."""
    return {action: count for action, count in _dropped.items() if count}


def _keep_readable(action: str, raws: list[Any], read: Callable[[Any], T | None]) -> list[T]:
    """Every item `read` makes sense of; the others are dropped, logged and counted.

    A non-empty list of which nothing was readable is GARBLED: "no information", never "none".
    """
    kept: list[T] = []
    for raw in raws:
        item = read(raw)
        if item is not None:
            kept.append(item)
    dropped = len(raws) - len(kept)
    if dropped:
        _dropped[action] += dropped
        # Never the item itself: it may hold a phone number or a message.
        log.warning("provider %s: dropped %d malformed list item(s)", action, dropped)
    if raws and not kept:
        raise garbled()
    return kept


# --------------------------------------------------------------------------- activations


def parse_balance(body: Body) -> Balance:
    if not body.is_json:
        code, payload = split_code(body.text)
        if code in ("ACCESS_BALANCE", "ACCESS_BALANCE_AND_CASHBACK") and payload is not None:
            amount = as_decimal(payload)
            if amount is None:
                raise garbled()
            return Balance(amount)
    fail(body)


def parse_number(body: Body) -> Purchase:
    if not body.is_json:
        code, payload = split_code(body.text)
        if code == "ACCESS_NUMBER" and payload is not None:
            activation_id, _, phone = payload.partition(":")
            activation, number = as_str(activation_id), as_phone(phone)
            if activation and number and number.isdigit():
                return Purchase(activation_id=activation, phone=number)
            raise garbled()
    fail(body)


def parse_number_v2(body: Body) -> Purchase:
    if not body.is_json:
        return parse_number(body)
    data = _json_dict(body)
    activation_id = as_str(data.get("activationId") or data.get("id"))
    phone = as_phone(data.get("phoneNumber") or data.get("phone"))
    if not activation_id or not phone:
        raise garbled()
    started = as_str(data.get("activationTime"))
    ends = as_str(data.get("activationEnd") or data.get("activationEndTime"))
    cancel = as_str(data.get("activationCancel"))
    return Purchase(
        activation_id=activation_id,
        phone=phone,
        cost=as_decimal(data.get("activationCost")),
        currency=as_str(data.get("currency")),
        country=as_str(data.get("countryCode")),
        can_get_another_sms=as_permission(data, "canGetAnotherSms"),
        activation_time=started,
        activation_end=ends,
        activation_cancel=cancel,
        lifetime=seconds_between(started, ends),
        cancel_lock=seconds_between(started, cancel),
    )


def _code_or_none(value: str | None) -> str | None:
    if value is None or not value.strip() or value.strip() == NO_CODE_PLACEHOLDER:
        return None
    return value.strip()


def parse_status(body: Body) -> ActivationStatus:
    if not body.is_json:
        code, payload = split_code(body.text)
        if code == "STATUS_WAIT_CODE":
            return ActivationStatus("wait_code")
        if code == "STATUS_WAIT_RESEND":
            return ActivationStatus("wait_resend")
        if code == "STATUS_CANCEL":
            return ActivationStatus("cancel")
        if code == "STATUS_WAIT_RETRY":
            return ActivationStatus("wait_retry", _code_or_none(payload))
        if code == "STATUS_OK":
            if payload is None or not payload.strip():
                # "OK" with no code says nothing usable: not a code, and not "still waiting".
                return ActivationStatus("unknown")
            sms_code = _code_or_none(payload)
            return ActivationStatus("ok", sms_code) if sms_code else ActivationStatus("wait_code")
    fail(body)


def _last_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, list):
        value = next((item for item in reversed(value) if isinstance(item, dict)), None)
    return strip_keys(value) if isinstance(value, dict) else None


def parse_status_v2(body: Body) -> StatusV2:
    if not body.is_json:
        status = parse_status(body)
        return StatusV2(code=status.code, text=None, state=status.state)
    data = _json_dict(body)
    if not any(key in data for key in ("sms", "call", "data", "verificationType")):
        raise garbled()
    message = _last_dict(data.get("sms")) or _last_dict(data.get("data"))
    call = _last_dict(data.get("call"))
    code = text = None
    for source in (message, call):
        if source is not None:
            code = code or _code_or_none(as_str(source.get("code")))
            text = text or as_str(source.get("text"))
    return StatusV2(code=code, text=text, state="ok" if code or text else "wait_code")


ACKS: dict[int, tuple[str, ...]] = {
    1: ("ACCESS_READY",),
    3: ("ACCESS_RETRY_GET",),
    6: ("ACCESS_ACTIVATION",),
    8: ("ACCESS_CANCEL", "ALREADY_CANCEL"),
    -1: ("ACCESS_CANCEL", "ALREADY_CANCEL"),
}


def parse_set_status(body: Body, status: int) -> str:
    if not body.is_json:
        ack, _ = split_code(body.text)
        if ack.startswith("ACCESS_") or (ack == "ALREADY_CANCEL" and status in (8, -1)):
            if ack not in ACKS.get(status, ()):
                raise ProviderError("ACK_MISMATCH", ack)
            return ack
    fail(body)


def _activation_list(data: Any) -> list[Any] | None:
    """The list inside any known getActiveActivations shape, or None when none is there.

    PHP's empty forms ({}, [], null, {"activeActivations": {}}) are empty; a wrapper that
    holds items wins over one that is empty (hero sends "data": [] beside the rows)."""
    if not isinstance(data, dict) or not data:
        return _list_value(data)
    data = strip_keys(data)
    if all(key.isdigit() for key in data):
        return _list_value(data)
    found: list[Any] | None = None
    for key in ("activeActivations", "data", "activations"):
        if key in data:
            items = _list_value(data[key])
            if items:
                return items
            found = items if found is None else found
    return found


def _last_text(value: Any) -> str | None:
    """smsCode / smsText: a string, or an array of them (the latest is last)."""
    if isinstance(value, list):
        texts = [as_str(item) for item in value if not isinstance(item, dict | list)]
        texts = [item for item in texts if item]
        return texts[-1] if texts else None
    return as_str(value)


def _active_activation(item: Any) -> ActiveActivation | None:
    """One listed activation, or None when it has no id or no phone (it is then dropped)."""
    if not isinstance(item, dict):
        return None
    item = strip_keys(item)
    activation_id = as_str(item.get("activationId") or item.get("id"))
    phone = as_phone(item.get("phoneNumber") or item.get("phone"))
    if not activation_id or not phone:
        return None
    return ActiveActivation(
        activation_id=activation_id,
        phone=phone,
        service=as_str(item.get("serviceCode") or item.get("service")),
        country=as_str(item.get("countryCode") if "countryCode" in item else item.get("country")),
        cost=as_decimal(item.get("activationCost")),
        status=as_str(item.get("activationStatus") or item.get("status")),
        code=_code_or_none(_last_text(item.get("smsCode"))),
        text=_last_text(item.get("smsText")),
        activation_time=as_str(item.get("activationTime")),
        can_get_another_sms=as_permission(item, "canGetAnotherSms"),
    )


def parse_active_activations(body: Body) -> list[ActiveActivation]:
    """Every known shape; an unreadable list is GARBLED ("no information"), never []."""
    if not body.is_json:
        if split_code(body.text)[0] == "NO_ACTIVATIONS":
            return []
        fail(body)
    error = json_error(body.data)
    if error is not None:
        if error.code == "NO_ACTIVATIONS":
            return []
        raise error
    items = _activation_list(body.data)
    if items is None:
        raise garbled()
    return _keep_readable("getActiveActivations", items, _active_activation)


# --------------------------------------------------------------------------- catalog


def _cost_count(entry: Any) -> tuple[Decimal, int] | None:
    if not isinstance(entry, dict):
        return None
    entry = strip_keys(entry)
    cost = as_decimal(entry.get("cost", entry.get("price")))
    if cost is None:
        return None
    count = entry.get("count", entry.get("quant", entry.get("quantity")))
    if isinstance(count, dict):  # sms-activate rent "quant": {"current": n, "total": m}
        count = count.get("current", count.get("total"))
    return cost, as_int(count)


def _nested_prices(data: Any) -> dict[str, dict[str, tuple[Decimal, int]]]:
    """{country: {service: {cost, count}}}; [] from PHP means empty."""
    if isinstance(data, list) and not data:
        return {}
    if not isinstance(data, dict):
        raise garbled()
    result: dict[str, dict[str, tuple[Decimal, int]]] = {}
    for country, services in strip_keys(data).items():
        if not isinstance(services, dict):
            continue
        for service, entry in strip_keys(services).items():
            parsed = _cost_count(entry)
            if parsed is not None:
                result.setdefault(country, {})[service] = parsed
    return result


def _price_info(entry: Any) -> PriceInfo | None:
    """One getPrices entry, or None for a blank or unreadable one (it is then not offered)."""
    if type(entry) is dict and len(entry) == 2:
        # The common shape {"cost": number, "count": int}: no key stripping, no text cleaning.
        # Same result as as_decimal: str(float) is repr, the shortest text that round-trips.
        cost, count = entry.get("cost"), entry.get("count")
        if type(count) is int:
            if type(cost) is float and cost - cost == 0.0:  # finite (inf - inf is nan)
                return PriceInfo(Decimal(repr(cost)), count)
            if type(cost) is int:
                return PriceInfo(Decimal(cost), count)
    parsed = _cost_count(entry)
    return None if parsed is None else PriceInfo(*parsed)


_MISSING = object()


class ServicePrices(Mapping[str, PriceInfo]):
    """service code -> PriceInfo for one country, converted on first access.

    A provider that ignores the `service` filter sends ~100,000 entries; a page needs ~200 of
    them (one service across the countries), so each entry becomes a Decimal and a PriceInfo
    only when it is looked up. Blank and unreadable entries are absent, exactly as if the table
    had been converted eagerly; iteration, len() and == convert what they touch.
    """

    __slots__ = ("_converted", "_raw")

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw  # keys already stripped; values as the JSON decoder left them
        self._converted: dict[str, PriceInfo | None] = {}

    def _lookup(self, service: str) -> PriceInfo | None:
        found = self._converted.get(service, _MISSING)
        if found is _MISSING:
            entry = self._raw.get(service, _MISSING)
            found = None if entry is _MISSING else _price_info(entry)
            self._converted[service] = found
        return found  # type: ignore[return-value]  # _MISSING was replaced just above

    def get(self, service: str, default: Any = None) -> Any:
        # _lookup inlined: this is the index's inner loop (one call per country per service).
        found = self._converted.get(service, _MISSING)
        if found is _MISSING:
            entry = self._raw.get(service, _MISSING)
            found = None if entry is _MISSING else _price_info(entry)
            self._converted[service] = found
        return default if found is None else found

    def __getitem__(self, service: str) -> PriceInfo:
        found = self._lookup(service)
        if found is None:
            raise KeyError(service)
        return found

    def __contains__(self, service: object) -> bool:
        return isinstance(service, str) and self._lookup(service) is not None

    def __iter__(self) -> Iterator[str]:
        return (service for service in self._raw if self._lookup(service) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"ServicePrices({dict(self)!r})"


# Exactness gate. The screened body was decoded with floats; Decimal(repr(float)) equals the
# Decimal of the JSON text whenever the number has at most 15 significant digits (DBL_DIG:
# such a decimal survives text -> double -> shortest repr unchanged) and no exponent (which
# could over- or underflow a double). A run of 16 digit-or-dot characters, or a digit followed
# by e/E, anywhere in the text sends the table down the exact path instead: decoded again with
# every JSON number kept as its text. False alarms (a long numeric key) only cost time.
_NUMBER_SHAPE = bytes.maketrans(b"0123456789.E", b"0000000000" + b"0e")
_LONG_NUMBER = b"0" * 16


def _floats_are_exact(text: str) -> bool:
    shape = text.encode("utf-8", errors="replace").translate(_NUMBER_SHAPE)
    return _LONG_NUMBER not in shape and b"0e" not in shape


def _price_table(body: Body) -> Any:
    """The decoded table, with JSON numbers as text when floats could lose digits."""
    if _floats_are_exact(body.text):
        return body.data
    try:
        return json.loads(body.text, parse_float=str)
    except ValueError:
        return body.data


def parse_prices(body: Body) -> Prices:
    """{country: {service: {cost, count}}}, converted lazily per entry (see ServicePrices).

    Countries with no usable entry are left out, as are non-object rows; [] means empty.
    """
    if not body.is_json:
        fail(body)
    error = json_error(body.data)
    if error is not None:
        raise error
    data = _price_table(body)
    if isinstance(data, list) and not data:
        return {}
    if not isinstance(data, dict):
        raise garbled()
    prices: dict[str, ServicePrices] = {}
    for country, services in strip_keys(data).items():
        if not isinstance(services, dict):
            continue
        row = ServicePrices(strip_keys(services))
        if next(iter(row), None) is not None:  # converts up to the first usable entry
            prices[country] = row
    return prices


def _tier_prices(value: Any) -> tuple[Decimal, ...]:
    values = value if isinstance(value, list) else [value]
    prices = (as_decimal(item) for item in values)
    return tuple(sorted(price for price in prices if price is not None))


def _offer(country: str, service: str, entry: Any) -> PriceOffer | None:
    if not isinstance(entry, dict):
        return None
    entry = strip_keys(entry)
    providers: dict[str, ProviderTier] = {}
    raw_providers = entry.get("providers")
    for key, raw in strip_keys(raw_providers).items() if isinstance(raw_providers, dict) else []:
        if not isinstance(raw, dict):
            continue
        raw = strip_keys(raw)
        provider_id = as_str(raw.get("provider_id")) or key
        prices = _tier_prices(raw.get("price"))
        if prices:
            providers[provider_id] = ProviderTier(provider_id, as_int(raw.get("count")), prices)
    own = _tier_prices(entry.get("price", entry.get("cost")))
    cheapest = own[0] if own else min((t.prices[0] for t in providers.values()), default=None)
    if cheapest is None:
        return None
    count = entry.get("count")
    total = as_int(count) if count is not None else sum(t.count for t in providers.values())
    return PriceOffer(country, service, cheapest, total, providers)


def parse_prices_v3(body: Body) -> list[PriceOffer]:
    if not body.is_json:
        fail(body)
    error = json_error(body.data)
    if error is not None:
        raise error
    if isinstance(body.data, list) and not body.data:
        return []
    if not isinstance(body.data, dict):
        raise garbled()
    offers: list[PriceOffer] = []
    for country, services in strip_keys(body.data).items():
        if not isinstance(services, dict):
            continue
        for service, entry in strip_keys(services).items():
            offer = _offer(country, service, entry)
            if offer is not None:
                offers.append(offer)
    return offers


def _country(raw: Any, fallback_id: str | None) -> Country | None:
    if not isinstance(raw, dict):
        return None
    raw = strip_keys(raw)
    country_id = as_str(raw.get("id")) or fallback_id
    if country_id is None:
        return None
    names = {
        key: value.strip()
        for key, value in raw.items()
        if key.lower() not in _LANGUAGE_SKIP and isinstance(value, str) and value.strip()
    }
    return Country(country_id, names)


def _is_single_country(data: dict[str, Any]) -> bool:
    return "id" in data and not all(isinstance(value, dict) for value in data.values())


def parse_countries(body: Body) -> list[Country]:
    """A map keyed by id, an array of objects, or a single object."""
    if not body.is_json:
        fail(body)
    error = json_error(body.data)
    if error is not None:
        raise error
    data = body.data
    entries: list[tuple[str | None, Any]]
    if isinstance(data, list):
        entries = [(None, item) for item in data]
    elif isinstance(data, dict):
        data = strip_keys(data)
        if _is_single_country(data):
            entries = [(None, data)]
        else:
            entries = [(key, raw) for key, raw in data.items() if key != "status"]
    else:
        raise garbled()
    return _keep_readable("getCountries", entries, lambda entry: _country(entry[1], entry[0]))


def parse_services(body: Body) -> list[Service]:
    """{"status":"success","services":[...]}, a bare array, or a {code: name} map."""
    if not body.is_json:
        fail(body)
    data = body.data
    items: list[Any] | None
    if isinstance(data, dict):
        error = json_error(data)
        if error is not None:
            raise error
        data = strip_keys(data)
        if "services" in data:
            items = _list_value(data["services"])
        elif data and "status" not in data and all(isinstance(v, str) for v in data.values()):
            items = [{"code": code, "name": name} for code, name in data.items()]
        else:
            items = _list_value(data)  # {} or keyed by index; anything else is no list
    else:
        items = _list_value(data)
    if items is None:
        raise garbled()
    return _keep_readable("getServicesList", items, _service)


def _service(item: Any) -> Service | None:
    if not isinstance(item, dict):
        return None
    item = strip_keys(item)
    code = as_str(item.get("code"))
    return Service(code=code, name=as_str(item.get("name")) or code) if code else None


def parse_operators(body: Body, country: str) -> list[str]:
    """getOperators: {"status":"success","countryOperators":{"6":["axis","telkomsel"]}} -> the
    country's operator names; OPERATORS_NOT_FOUND (text or JSON) -> []."""
    if not body.is_json:
        if split_code(body.text)[0] == "OPERATORS_NOT_FOUND":
            return []
        fail(body)
    error = json_error(body.data)
    if error is not None:
        if error.code == "OPERATORS_NOT_FOUND":
            return []
        raise error
    if not isinstance(body.data, dict):
        raise garbled()
    table = strip_keys(body.data).get("countryOperators")
    if not isinstance(table, dict):
        raise garbled()
    names = strip_keys(table).get(country)
    if names is None:
        return []
    if not isinstance(names, list):
        raise garbled()
    found = (as_str(name) for name in names)
    return list(dict.fromkeys(name.strip() for name in found if name and name.strip()))


# --------------------------------------------------------------------------- rent


def parse_rent_number(body: Body) -> RentPurchase:
    data = _json_dict(body)
    phone = data.get("phone")
    if not isinstance(phone, dict):
        raise garbled()
    phone = strip_keys(phone)
    rent_id, number = as_str(phone.get("id")), as_phone(phone.get("number"))
    if not rent_id or not number:
        raise garbled()
    end_date = as_str(phone.get("endDate"))
    return RentPurchase(rent_id, number, end_date, epoch_if_zoned(end_date))


def parse_rent_status(body: Body) -> RentStatus:
    """Messages in the provider's order; STATUS_WAIT_CODE (no SMS yet) is an empty list."""
    try:
        data = _json_dict(body)
    except ProviderError as error:
        if error.code == "STATUS_WAIT_CODE":
            return RentStatus([], 0)
        raise
    messages = _keep_readable("getRentStatus", _items(data.get("values")), _rent_sms)
    quantity = data.get("quantity")
    return RentStatus(messages, as_int(quantity, len(messages)) if quantity else len(messages))


def _rent_sms(raw: Any) -> RentSms | None:
    if not isinstance(raw, dict):
        return None
    raw = strip_keys(raw)
    text = as_str(raw.get("text", raw.get("test")))
    if text is None:
        return None
    return RentSms(
        phone_from=as_str(raw.get("phoneFrom")) or "",
        text=text,
        service=as_str(raw.get("service")),
        date=as_str(raw.get("date")),
    )


def parse_set_rent_status(body: Body) -> None:
    data = _json_dict(body)
    if str(data.get("status", "")).strip().lower() != "success":
        raise garbled()


def _history_items(data: Any) -> list[Any] | None:
    """The list inside a getRentHistory answer, or None when there is none."""
    if not isinstance(data, dict):
        return _list_value(data)
    data = strip_keys(data)
    for key in ("values", "history", "data"):
        if key in data:
            return _list_value(data[key])
    return _list_value(data)  # {} or a bare object keyed by index


def _names_other_rental(raw: Any, rent_id: str) -> bool:
    return isinstance(raw, dict) and as_str(strip_keys(raw).get("id")) not in (None, rent_id)


def _rent_period(raw: Any, *, needs_id: bool) -> RentHistoryItem | None:
    """One period (date, price, hours); None when it has neither a date nor a price, or when
    an entry of a key-wide list does not say which rental it is."""
    if not isinstance(raw, dict):
        return None
    raw = strip_keys(raw)
    if needs_id and as_str(raw.get("id")) is None:
        return None
    date = as_str(raw.get("date", raw.get("createdDate")))
    price = as_decimal(raw.get("price", raw.get("cost")))
    if date is None and price is None:
        return None
    return RentHistoryItem(date=date, price=price, hours=as_int(raw.get("hours")) or None)


def parse_rent_history(body: Body, rent_id: str) -> list[RentHistoryItem]:
    """The periods of ONE rental (the first rent and each extension), in the provider's order.

    The seed page's {"status", "quantity", "values": {"1": {date, price, hours}}}; sms-activate's
    {"history": {"0": {createdDate, price, hours}}}; or a key-wide list of rentals
    [{id, date, phone, sms, cost, status}] (sms.online), of which the entry of `rent_id` is kept.
    """
    if not body.is_json:
        fail(body)
    error = json_error(body.data)
    if error is not None:
        raise error
    items = _history_items(body.data)
    if items is None:
        raise garbled()
    key_wide = isinstance(body.data, list)
    ours = [raw for raw in items if not _names_other_rental(raw, rent_id)]
    return _keep_readable("getRentHistory", ours, lambda raw: _rent_period(raw, needs_id=key_wide))


def parse_rent_list(body: Body) -> list[RentListItem]:
    """The key's rentals: sms-activate's {"status":"success","values":{"0":{id, phone}}} or
    sms.online's "values" array of {id, phone, price, hours}; empty values ({} / [] / null, or
    none at all next to "success") are no rentals; an item without an id or a phone is dropped."""
    if not body.is_json:
        fail(body)
    error = json_error(body.data)
    if error is not None:
        raise error
    data = body.data
    if isinstance(data, dict):
        data = strip_keys(data)
        if "values" in data:
            data = data["values"]
        elif _says_success(data.get("status")):
            data = None
    items = _list_value(data)
    if items is None:
        raise garbled()
    return _keep_readable("getRentList", items, _rent_list_item)


def _rent_list_item(raw: Any) -> RentListItem | None:
    if not isinstance(raw, dict):
        return None
    raw = strip_keys(raw)
    rent_id, phone = as_str(raw.get("id")), as_phone(raw.get("phone", raw.get("number")))
    if not rent_id or not phone:
        return None
    end_date = as_str(raw.get("endDate"))
    return RentListItem(
        rent_id=rent_id,
        phone=phone,
        end_date=end_date,
        ends_at=epoch_if_zoned(end_date),
        price=as_decimal(raw.get("price", raw.get("cost"))),
        hours=as_int(raw.get("hours")) or None,
    )


def parse_rent_prices(body: Body) -> RentPrices:
    if not body.is_json:
        fail(body)
    error = json_error(body.data)
    if error is not None:
        raise error
    data = body.data
    if isinstance(data, dict):
        data = strip_keys(data)
        if "values" in data:
            data = data["values"]
        elif "status" in data:
            data = {key: value for key, value in data.items() if key != "status"}
    nested = _nested_prices(data)
    return {
        country: {service: RentPrice(cost, count) for service, (cost, count) in services.items()}
        for country, services in nested.items()
    }
