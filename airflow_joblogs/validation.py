"""The one set of rules for checking the values users pass to operators, sensors and hooks.

Every check raises :class:`~airflow_joblogs.exceptions.InvalidParameterError` naming the parameter, before
any network call. One rule per kind of value, the same in every service:

- **booleans** are ``True`` or ``False``. A string is refused, even ``"false"``: it is truthy in Python, and
  accepting some strings but not others would make a typo change behaviour silently.
- **integers** are an ``int`` or a string of decimal digits (rendered templates, params and Variables are
  strings); a bool, a float or any other string is refused.
- **numbers** (intervals, timeouts) are an ``int``, a ``float`` or a string that parses as one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from airflow_joblogs.exceptions import InvalidParameterError


def require_bool(value: Any, parameter: str) -> bool:
    """``value`` if it is ``True`` or ``False``; anything else is refused."""
    if isinstance(value, bool):
        return value
    hint = ""
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        hint = f"; pass {value.strip().lower() in ('true', '1', 'yes', 'on')} (a boolean), not a string"
    raise InvalidParameterError(parameter, f"{value!r} is not a boolean{hint}", "True, False")


def optional_bool(value: Any, parameter: str) -> bool | None:
    """:func:`require_bool`, with ``None`` meaning "not given"."""
    return None if value is None else require_bool(value, parameter)


def as_int(value: Any, parameter: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An ``int`` or a string of decimal digits, within ``minimum`` .. ``maximum``."""
    number: Any = value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        number = int(text) if digits.isdecimal() and digits.isascii() else None
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidParameterError(parameter, f"{value!r} is not an integer", f"an integer{_range(minimum, maximum)}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InvalidParameterError(parameter, f"{value!r} is out of range", f"an integer{_range(minimum, maximum)}")
    return number


def as_number(value: Any, parameter: str, minimum: float | None = 0.0, *, allow_zero: bool = False) -> float:
    """An ``int``, a ``float`` or a string that parses as one; positive unless ``allow_zero``."""
    if isinstance(value, bool):
        raise InvalidParameterError(parameter, f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(parameter, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidParameterError(parameter, f"{value!r} must be a finite number")
    if minimum is not None and (number < minimum or (number == minimum and not allow_zero)):
        bound = f">= {minimum:g}" if allow_zero else f"> {minimum:g}"
        raise InvalidParameterError(parameter, f"{value!r} must be {bound}")
    return number


def one_of(value: Any, parameter: str, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    allowed = list(choices)
    if value not in allowed:
        raise InvalidParameterError(parameter, f"{value!r} is not supported", ", ".join(map(str, allowed)))
    return value


def readable_order(values: Iterable[Any]) -> list[Any]:
    """Numbers in numeric order (4 before 11), then everything else alphabetically."""
    return sorted(
        values,
        key=lambda v: (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v)),
    )


def _range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
