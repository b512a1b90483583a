"""A strict reader of the YAML the deployment files are written in, for the tests.

The project has no YAML library among its dependencies, and the deployment files (Compose,
Prometheus, Grafana provisioning) need only a small part of YAML: block mappings and
sequences, one-line or multi-line flow sequences of scalars, quoted and plain scalars,
comments, and anchors with aliases and the merge key `<<`. Anything else (block scalars, flow
mappings, tags, documents, tabs, YAML 1.1's yes/no/on/off and sexagesimal `12:30`) is refused
with the line it is on, rather than read differently from Docker or Prometheus: a file the
tests pass is read the same by them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Value = object

_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
# Plain scalars a YAML 1.1 reader (PyYAML) and a YAML 1.2 reader (Go's, Docker's) disagree on.
_AMBIGUOUS = re.compile(
    r"(?i:yes|no|on|off)|[-+]?0[0-9_]+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9]*)?"
)
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_ANCHOR = re.compile(r"&([A-Za-z0-9_-]+)\s*")
_ALIAS = re.compile(r"\*([A-Za-z0-9_-]+)")


class YamlSubsetError(ValueError):
    pass


@dataclass(slots=True)
class _Line:
    number: int  # 1-based, for messages
    indent: int
    text: str


def load(text: str) -> Value:
    """The document's value: dicts, lists, str, int, float, bool and None."""
    lines = _logical_lines(text)
    if not lines:
        return None
    reader = _Reader(lines)
    value = reader.block(0, lines[0].indent)
    if reader.at < len(lines):
        raise _error(lines[reader.at], "unexpected indentation")
    return value


def _error(line: _Line, what: str) -> YamlSubsetError:
    return YamlSubsetError(f"line {line.number}: {what}: {line.text!r}")


def _strip_comment(raw: str) -> str:
    """The line without its comment (a # at its start or after a space, outside quotes)."""
    quote, escaped = "", False
    for index, char in enumerate(raw):
        if escaped:
            escaped = False
        elif quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                escaped = True
        elif char in "\"'" and (index == 0 or raw[index - 1] in " [,-:"):
            quote = char
        elif char == "#" and (index == 0 or raw[index - 1] in " \t"):
            return raw[:index].rstrip()
    return raw.rstrip()


def _bracket_depth(text: str) -> int:
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
    return depth


def _logical_lines(text: str) -> list[_Line]:
    """Non-empty lines without comments; a flow sequence spanning lines is joined into one."""
    lines: list[_Line] = []
    pending: _Line | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlSubsetError(f"line {number}: a tab in the indentation")
        if raw.strip() in ("---", "..."):
            raise YamlSubsetError(f"line {number}: one document per file")
        stripped = _strip_comment(raw)
        if not stripped.strip():
            continue
        if pending is not None:
            pending.text += " " + stripped.strip()
        else:
            pending = _Line(number, len(stripped) - len(stripped.lstrip()), stripped.strip())
        if _bracket_depth(pending.text) == 0:
            lines.append(pending)
            pending = None
    if pending is not None:
        raise _error(pending, "unclosed flow sequence")
    return lines


def _split_key(text: str) -> tuple[str, str] | None:
    """`key: rest` split at the first `: ` (or a final `:`) outside quotes; None if not one."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'" and index == 0:
            quote = char
        elif char == ":" and (index + 1 == len(text) or text[index + 1] == " "):
            return text[:index].strip(), text[index + 1 :].strip()
        elif char in "[{" and index == 0:
            return None
    return None


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


class _Reader:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.at = 0
        self.anchors: dict[str, Value] = {}

    def block(self, start: int, indent: int) -> Value:
        self.at = start
        line = self.lines[start]
        if line.indent != indent:
            raise _error(line, "unexpected indentation")
        if _is_item(line.text):
            return self.sequence(indent)
        return self.mapping(indent)

    def _nested(self, parent: _Line, key_indent: int) -> Value:
        """The block under `key:` (deeper, or a sequence at the key's own indentation)."""
        following = self.at + 1
        if following < len(self.lines):
            below = self.lines[following]
            if below.indent > key_indent or (below.indent == key_indent and _is_item(below.text)):
                return self.block(following, below.indent)
        self.at = following
        return None

    def mapping(self, indent: int) -> dict[str, Value]:
        result: dict[str, Value] = {}
        merged: dict[str, Value] = {}
        while self.at < len(self.lines):
            line = self.lines[self.at]
            if line.indent < indent or (line.indent == indent and _is_item(line.text)):
                break
            if line.indent > indent:
                raise _error(line, "unexpected indentation")
            split = _split_key(line.text)
            if split is None:
                raise _error(line, "expected `key: value`")
            key, rest = _unquote(split[0], line), split[1]
            anchor = None
            if found := _ANCHOR.match(rest):
                anchor, rest = found.group(1), rest[found.end() :]
            if rest:
                value = self.inline(rest, line)
                self.at += 1
            else:
                value = self._nested(line, indent)
            if anchor is not None:
                self.anchors[anchor] = value
            if key == "<<":
                if not isinstance(value, dict):
                    raise _error(line, "a merge key takes a mapping")
                merged.update(value)
            elif key in result:
                raise _error(line, f"duplicate key {key}")
            else:
                result[key] = value
        return {**merged, **result}

    def sequence(self, indent: int) -> list[Value]:
        items: list[Value] = []
        while self.at < len(self.lines):
            line = self.lines[self.at]
            if line.indent != indent or not _is_item(line.text):
                if line.indent > indent:
                    raise _error(line, "unexpected indentation")
                break
            rest = line.text[1:].lstrip()
            if not rest:
                items.append(self._nested(line, indent))
            elif _split_key(rest) is not None:
                # `- key: value`: a mapping whose lines are indented as its first key.
                inner = indent + len(line.text) - len(rest)
                self.lines[self.at] = _Line(line.number, inner, rest)
                items.append(self.mapping(inner))
            else:
                items.append(self.inline(rest, line))
                self.at += 1
        return items

    def inline(self, text: str, line: _Line) -> Value:
        if found := _ALIAS.fullmatch(text):
            name = found.group(1)
            if name not in self.anchors:
                raise _error(line, f"unknown alias *{name}")
            return self.anchors[name]
        if text.startswith("["):
            return _flow_sequence(text, line)
        if text[0] in "{|>!&*%@`":
            raise _error(line, "outside the YAML this reader accepts")
        return _scalar(text, line)


def _flow_sequence(text: str, line: _Line) -> list[Value]:
    if not text.endswith("]") or _bracket_depth(text[1:-1]) != 0 or "[" in text[1:-1]:
        raise _error(line, "only flat flow sequences are accepted")
    items: list[Value] = []
    current, quote = "", ""
    for char in text[1:-1]:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ",":
            items.append(_scalar(current.strip(), line))
            current = ""
            continue
        current += char
    if current.strip():
        items.append(_scalar(current.strip(), line))
    return items


def _unquote(text: str, line: _Line) -> str:
    value = _scalar(text, line)
    if not isinstance(value, str):
        raise _error(line, "keys are strings here")
    return value


def _scalar(text: str, line: _Line) -> Value:
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise _error(line, "unterminated double-quoted string")
        body = text[1:-1]
        if re.search(r"\\[^\\\"n]", body):
            raise _error(line, 'only \\\\, \\" and \\n escapes are accepted')
        return re.sub(r"\\(.)", lambda found: _ESCAPES[found.group(1)], body)
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise _error(line, "unterminated single-quoted string")
        return text[1:-1].replace("''", "'")
    if text in ("null", "~", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _AMBIGUOUS.fullmatch(text):
        raise _error(line, f"quote {text!r}: YAML 1.1 and 1.2 read it differently")
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text.startswith(("- ", "? ", "! ", "% ", "@", "`")) or " #" in text:
        raise _error(line, "outside the YAML this reader accepts")
    return text
