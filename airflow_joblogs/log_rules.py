"""Log rules: regular expressions checked against every line of a remote job's log, with bounded memory.

A :class:`LogMatcher` counts, per pattern, the log lines it matches (``re.search`` on each line) and keeps the
first few of them per unit (host, step, server: the chunk's header), so what it holds stays small whatever
the log's size. Kept lines pass through Airflow's secrets masker (they end up in errors and XCom). Its state is a JSON value (:meth:`LogMatcher.to_dict`), so a sensor can hand it to its trigger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.models import LogChunk
from airflow_joblogs.redaction import airflow_redact

#: the unit of a chunk without a header (a log that is one stream)
WHOLE_LOG = "log"
#: a kept line is cut to this many characters
MAX_LINE_CHARS = 500


def check_patterns(value: Any, parameter: str, *, may_match_empty: bool = True) -> list[str]:
    """``value`` as a list of regular expressions (strings that compile), or an error naming ``parameter``.

    ``may_match_empty=False`` also refuses a pattern that matches the empty string (a replacement would be put
    between every two characters)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidParameterError(parameter, f"{value!r} must be a list of regular expressions")
    patterns = list(value)
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise InvalidParameterError(parameter, f"{pattern!r} is not a regular expression (a non-empty string)")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise InvalidParameterError(parameter, f"{pattern!r} is not a valid regular expression: {exc}") from None
        if not may_match_empty and compiled.search("") is not None:
            raise InvalidParameterError(parameter, f"{pattern!r} matches the empty string")
    return patterns


class _Rule:
    __slots__ = ("count", "line", "pattern", "prefilter", "text", "units")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pattern = re.compile(text)
        # a first pass over a chunk's whole text finds the lines worth checking; \A and \Z mean the start and end
        # of a line to the per-line check but of the text to a multi-line search, so such patterns check every line
        self.prefilter = None if ("\\A" in text or "\\Z" in text) else re.compile(text, re.MULTILINE)
        self.count = 0
        self.units: dict[str, list[str]] = {}


class LogMatcher:
    """Matches log lines against ``patterns``; keeps counts and the first lines per unit, bounded.

    :param max_units: units kept per pattern (their first matching lines); later units are only counted.
    :param max_lines_per_unit: matching lines kept per unit.
    """

    def __init__(self, patterns: Iterable[str], *, max_units: int = 20, max_lines_per_unit: int = 3) -> None:
        self.rules = [_Rule(p) for p in patterns]
        self.max_units = max_units
        self.max_lines_per_unit = max_lines_per_unit

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def matched(self) -> bool:
        return any(rule.count for rule in self.rules)

    def feed(self, chunk: LogChunk) -> None:
        text = chunk.text
        if not text:
            return
        unit = chunk.header or WHOLE_LOG
        for rule in self.rules:
            for line in self._lines(rule, text):
                rule.count += 1
                kept = rule.units.get(unit)
                if kept is None:
                    if len(rule.units) >= self.max_units:
                        continue
                    kept = rule.units[unit] = []
                if len(kept) < self.max_lines_per_unit:
                    kept.append(airflow_redact(line)[:MAX_LINE_CHARS])

    @staticmethod
    def _lines(rule: _Rule, text: str) -> Iterable[str]:
        """The lines of ``text`` that ``rule`` matches (each once)."""
        if rule.prefilter is None:
            for line in text.removesuffix("\n").split("\n"):
                line = line.removesuffix("\r")
                if rule.pattern.search(line):
                    yield line
            return
        position = 0
        while (hit := rule.prefilter.search(text, position)) is not None:
            if hit.start() == len(text) and text.endswith("\n"):
                return  # past the last line's newline: no line there
            start = text.rfind("\n", 0, hit.start()) + 1
            end = text.find("\n", hit.start())
            if end < 0:
                end = len(text)
            line = text[start:end].removesuffix("\r")
            if rule.pattern.search(line):
                yield line
            position = end + 1
            if position > len(text):
                return

    # -- state ----------------------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """``{pattern: {"count": lines matched, "units": {unit: [first matching lines]}}}`` (JSON values)."""
        return {
            rule.text: {"count": rule.count, "units": {u: list(v) for u, v in rule.units.items()}}
            for rule in self.rules
        }

    def to_dict(self) -> dict[str, Any]:
        """The matcher's patterns, bounds and findings so far, as JSON values (see :meth:`from_dict`)."""
        return {
            "patterns": [rule.text for rule in self.rules],
            "max_units": self.max_units,
            "max_lines_per_unit": self.max_lines_per_unit,
            "found": self.report(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogMatcher:
        matcher = cls(data["patterns"], max_units=data["max_units"], max_lines_per_unit=data["max_lines_per_unit"])
        found = data.get("found") or {}
        for rule in matcher.rules:
            state = found.get(rule.text)
            if state:
                rule.count = int(state["count"])
                rule.units = {u: list(v) for u, v in state["units"].items()}
        return matcher

    def describe(self) -> str:
        """The findings as lines for an error message: each pattern that matched, its units and first lines."""
        lines = []
        for rule in self.rules:
            if not rule.count:
                continue
            lines.append(f"- pattern {rule.text!r} matched {rule.count} log line(s):")
            for unit, kept in rule.units.items():
                lines.append(f"  in {unit}:")
                lines.extend(f"    | {line}" for line in kept)
        return "\n".join(lines)
