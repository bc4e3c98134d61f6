"""The services' time stamps, read in one place and shown to people in Airflow's time zone.

What each service sends (the upstream sources are listed in the docs' "Times" section):

* BlueKing JOB ESB v2: ``"2018-03-15 14:39:30 +0800"`` (legacy-bk-paas' API docs) or, as bk-job's own ESB v2
  serializer writes it, ``"2018-03-15 14:39:30"`` with no offset, in UTC+8 unless the request says otherwise;
  API gateway v3: milliseconds since the epoch.
* CodeArts Build: ``"yyyy-MM-dd HH:mm:ss"`` strings with no offset (the time zone is not documented).
* QingCloud: ISO 8601 in UTC, ``"2018-03-04T05:37:58Z"``.
* AWS MGN: ISO 8601 in UTC with optional fractions, ``"2026-11-22T10:00:00.000Z"`` (botocore's
  ``ISO8601DatetimeString``, a string shape; a ``timestamp`` shape would come as a ``datetime``).

:func:`render` shows any of them as ISO 8601 in ``[core] default_timezone`` (``Z`` for UTC), to the precision
sent. The zone is read once per process (:func:`user_timezone`); :func:`reset` forgets it. Raw API answers and
``jsonl`` records keep the services' own values.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import pendulum

#: the zone bk-job writes ESB v2 times in when the request names none (``JobContextUtil.getTimeZone``)
BLUEKING_ZONE = timezone(timedelta(hours=8))
#: bk-job's ``LongTimestampSerializer``: epoch numbers above this are milliseconds, else seconds
_MAX_EPOCH_SECONDS = 9_999_999_999
_UTC = timezone.utc
#: the exact formats above: date, time, optional fraction, optional offset (``Z``, ``+0800``, ``+08:00``)
_COMMON = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? ?(?:(Z)|([+-])(\d\d):?(\d\d))?",
    re.ASCII,
)
_ESB_V2 = "%Y-%m-%d %H:%M:%S %z"


@functools.cache
def user_timezone() -> tzinfo:
    """Airflow's ``[core] default_timezone`` (``utc``, an IANA name, or ``system``), read once per process."""
    from airflow.providers.common.compat.sdk import conf

    name = conf.get("core", "default_timezone", fallback="utc") or "utc"
    if name == "system":
        return pendulum.tz.local_timezone()
    return pendulum.timezone(name)


def reset() -> None:
    """Forget the time zone read and the times rendered with it (after the configuration changed)."""
    user_timezone.cache_clear()
    _local_minute.cache_clear()
    _render_text.cache_clear()
    _render_epoch.cache_clear()


def from_epoch(value: float) -> datetime:
    """An epoch number as an aware UTC time: milliseconds (BlueKing gateway v3) or seconds, told apart as bk-job does."""
    return datetime.fromtimestamp(value / 1000 if abs(value) > _MAX_EPOCH_SECONDS else value, _UTC)


def _parse_text(text: str, naive_zone: tzinfo | None) -> tuple[datetime, int] | None:
    """(time, fraction digits) of a time string, or None; a time without an offset gets ``naive_zone`` (or None)."""
    m = _COMMON.fullmatch(text.strip())
    if m is not None:
        year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
        if zulu:
            zone: tzinfo | None = _UTC
        elif sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            zone = timezone(-offset if sign == "-" else offset)
        else:
            zone = naive_zone
        if zone is None:
            return None
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        try:
            moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
        except ValueError:
            return None
        return moment, len(fraction or "")
    try:  # any other ISO 8601 / RFC 3339 spelling
        parsed = pendulum.parse(text, tz=None)
    except (ValueError, TypeError, OverflowError):
        return None
    if not isinstance(parsed, datetime):
        return None
    if parsed.tzinfo is None:
        if naive_zone is None:
            return None
        parsed = parsed.replace(tzinfo=naive_zone)
    return parsed, 6 if parsed.microsecond else 0


def parse(value: Any, *, naive_zone: tzinfo | None = None) -> datetime | None:
    """An aware :class:`~datetime.datetime` from any time the services send, or None if ``value`` is not one.

    Strings in the formats above, epoch numbers (milliseconds or seconds) and ``datetime`` objects are read. A time
    without an offset is taken in ``naive_zone`` (:data:`BLUEKING_ZONE` for BlueKing); without one it is not a
    point in time and gives None.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return None if naive_zone is None else value.replace(tzinfo=naive_zone)
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            return from_epoch(value)
        except (ValueError, OverflowError, OSError):
            return None
    if isinstance(value, str):
        found = _parse_text(value, naive_zone)
        return None if found is None else found[0]
    return None


def _iso(moment: datetime, fraction_digits: int) -> str:
    local = moment.astimezone(user_timezone())
    spec = "seconds" if not fraction_digits else "milliseconds" if fraction_digits <= 3 else "microseconds"
    text = local.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@functools.lru_cache(maxsize=4096)
def _local_minute(head: str) -> tuple[str, str] | None:
    """A UTC minute ``YYYY-MM-DDTHH:MM`` in Airflow's zone, as (local minute, offset suffix); None when not a time."""
    try:
        moment = datetime.fromisoformat(head + ":00+00:00")
    except ValueError:
        return None
    local = moment.astimezone(user_timezone())
    offset = local.isoformat()[19:]
    if len(offset) != 6:  # an offset with seconds (old local mean times): the general path
        return None
    return local.isoformat()[:16], "Z" if offset == "+00:00" else offset


def _render_utc_iso(text: str) -> str | None:
    """The fast path for QingCloud's and MGN's ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z``, which come once a line:
    the minute is converted once (zones change offset only on whole UTC minutes), the seconds are kept as sent."""
    size = len(text)
    if (size == 20 or size == 24 or size == 27) and text[-1] == "Z" and text[10] == "T" and text[16] == ":":
        seconds = text[17:-1]
        if (
            seconds[:2].isdigit()
            and seconds[:2] < "60"
            and (size == 20 or (seconds[2] == "." and seconds[3:].isdigit()))
        ):
            local = _local_minute(text[:16])
            if local is not None:
                return f"{local[0]}:{seconds}{local[1]}"
    return None


@functools.lru_cache(maxsize=4096)  # items of a job share their seconds often; the cache holds the zone's output
def _render_text(text: str, naive_zone: tzinfo | None) -> str:
    found = _parse_text(text, naive_zone)
    return text if found is None else _iso(*found)


@functools.lru_cache(maxsize=4096)
def _render_epoch(value: float) -> str:
    return _iso(from_epoch(value), 3 if abs(value) > _MAX_EPOCH_SECONDS and value % 1000 else 0)


def render(value: Any, *, naive_zone: tzinfo | None = None, missing: str = "-") -> str:
    """``value`` as people read it: ISO 8601 in Airflow's time zone (``Z`` when that is UTC), to the precision sent.

    ``None`` and ``""`` give ``missing``; a value that is not a time (or has no offset and no ``naive_zone``) is
    shown as sent.
    """
    if value is None or value == "":
        return missing
    if isinstance(value, str):
        return _render_utc_iso(value) or _render_text(value, naive_zone)
    if isinstance(value, datetime):
        moment = parse(value, naive_zone=naive_zone)
        return str(value) if moment is None else _iso(moment, 6 if moment.microsecond else 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return _render_epoch(value)
        except (ValueError, OverflowError, OSError):
            return str(value)
    return str(value)


@functools.lru_cache(maxsize=4096)  # a step's hosts mostly share their start and end times
def esb_v2_from_ms(value: Any) -> str | None:
    """A gateway v3 time (ms since the epoch) as ESB v2 writes it: ``"2018-03-15 14:39:30 +0800"``, in UTC+8.

    For records in the ESB v2 shape (``jsonl``), which stay the same whatever Airflow's time zone is.
    """
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, BLUEKING_ZONE).strftime(_ESB_V2)
