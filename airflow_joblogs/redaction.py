"""Redaction: remove secrets from log text before it is archived or streamed, and count what was replaced.

Two sources of secrets: every secret Airflow's secrets masker knows in this process (connection passwords and
extras marked sensitive, variables with sensitive names, values registered with ``mask_secret``), replaced
through Airflow's own ``redact``; and ``redact_patterns``, regular expressions whose matches are replaced.
Both replace with ``***``, as Airflow does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from airflow_joblogs.models import LogChunk

MASK = "***"


def airflow_redact(text: str) -> str:
    """``text`` with every secret Airflow's secrets masker knows replaced by ``***``."""
    from airflow.providers.common.compat.sdk import redact

    return str(redact(text))


class Redactor:
    """Replaces secrets in log text and counts the replacements.

    :param patterns: regular expressions (already checked) whose matches are replaced too.
    :param masker: also replace what Airflow's secrets masker knows (log operators); sensors stream into task
        logs, which Airflow masks itself, and pass False.
    """

    def __init__(self, patterns: Iterable[str] = (), *, masker: bool = True) -> None:
        self.patterns = [re.compile(p) for p in patterns]
        self.masker = masker
        self.replacements = 0

    def text(self, text: str, count: bool = True) -> str:
        """``text`` redacted; ``count``: add its replacements to :attr:`replacements`."""
        if not text:
            return text
        replaced = 0
        if self.masker:
            before = text.count(MASK)
            text = airflow_redact(text)
            replaced += text.count(MASK) - before
        for pattern in self.patterns:
            text, n = pattern.subn(MASK, text)
            replaced += n
        if count:
            self.replacements += replaced
        return text

    def value(self, value: Any, count: bool = True) -> Any:
        """A JSON value with every string in it (not the keys) redacted."""
        if isinstance(value, str):
            return self.text(value, count)
        if isinstance(value, dict):
            return {key: self.value(item, count) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, count) for item in value]
        return value

    def chunk(self, chunk: LogChunk, log_format: str = "text") -> LogChunk:
        """A copy of ``chunk`` redacted for ``log_format``, counting what that format writes: ``text`` (the
        header and text; the record is dropped) or ``jsonl`` (the record, or the text if it has none; the
        header and text are redacted too, for log rules, without counting)."""
        if log_format != "jsonl":
            return LogChunk(
                text=self.text(chunk.text),
                header=None if chunk.header is None else self.text(chunk.header),
                cursor=chunk.cursor,
                truncated_upstream=chunk.truncated_upstream,
            )
        record = chunk.record
        return LogChunk(
            text=self.text(chunk.text, count=record is None),
            header=None if chunk.header is None else self.text(chunk.header, count=False),
            record=None if record is None else self.value(record),
            cursor=chunk.cursor,
            truncated_upstream=chunk.truncated_upstream,
        )

    def chunks(self, chunks: Iterable[LogChunk], log_format: str = "text") -> Iterable[LogChunk]:
        for chunk in chunks:
            yield self.chunk(chunk, log_format)
