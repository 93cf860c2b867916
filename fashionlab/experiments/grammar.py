"""The grammar of sweep and search axes: `key=a,b,c`, `[a,b,c]`, range(), logspace(), choice(), and the
search ranges uniform(), loguniform(), int(). Pure: text in, values out, every problem a ConfigError.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from fashionlab.config import Override, parse_value, split_override
from fashionlab.errors import ConfigError

MAX_TRIALS = 10_000


def split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets, braces, parentheses or quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    parts.append(current.strip())
    return parts


def _number(text: str, what: str) -> float:
    value = parse_value(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what}: '{text}' is not a number")
    if not math.isfinite(value) or abs(value) > 1e300:
        raise ConfigError(f"{what}: '{text}' is too large a number to sweep over")
    return value


def _clean(x: float) -> float | int:
    """Round away float noise (0.30000000000000004 -> 0.3) and keep whole numbers as ints."""
    y = float(f"{x:.12g}")
    return int(y) if y.is_integer() and abs(y) < 2**53 else y


@dataclass(frozen=True)
class Distribution:
    """A range to search rather than a list of values: uniform, loguniform or int."""

    kind: str
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.kind}({_clean(self.low)}, {_clean(self.high)})"


DISTRIBUTIONS = ("uniform", "loguniform", "int")


def parse_space(raw: str, key: str, what: str = "sweep axis") -> list[Any] | Distribution:
    """One axis: a list of values (a,b,c | [a,b,c] | range | logspace | choice) or a search distribution."""
    text = raw.strip()
    match = re.fullmatch(r"(\w+)\((.*)\)", text, flags=re.S)
    if match and match.group(1) in DISTRIBUTIONS:
        where = f"{what} '{key}={raw}'"
        func, args = match.group(1), [a for a in split_top(match.group(2)) if a != ""]
        if len(args) != 2:
            raise ConfigError(f"{where}: {func} takes (low, high)")
        low, high = (_number(a, where) for a in args)
        if not low < high:
            raise ConfigError(f"{where}: low must be below high")
        if func == "loguniform" and low <= 0:
            raise ConfigError(f"{where}: loguniform needs low > 0")
        if func == "int" and (low != int(low) or high != int(high)):
            raise ConfigError(f"{where}: int takes whole numbers")
        return Distribution(func, low, high)
    return parse_values(raw, key, what)


def parse_values(raw: str, key: str, what: str = "sweep axis") -> list[Any]:
    """The values of one axis: a,b,c | [a,b,c] | range(..) | logspace(..) | choice(..)."""
    text = raw.strip()
    where = f"{what} '{key}={raw}'"
    match = re.fullmatch(r"(\w+)\((.*)\)", text, flags=re.S)
    if match:
        func, args = match.group(1), [a for a in split_top(match.group(2)) if a != ""]
        if func in DISTRIBUTIONS:
            raise ConfigError(
                f"{where}: {func}(...) is a range to search, not a list of values; "
                f"use 'fashionlab search {key}={text}', or list values for a sweep"
            )
        if func == "choice":
            if not args:
                raise ConfigError(f"{where}: choice() needs at least one value")
            return [parse_value(a) for a in args]
        if func == "range":
            if not 1 <= len(args) <= 3:
                raise ConfigError(f"{where}: range takes (stop), (start, stop) or (start, stop, step)")
            nums = [_number(a, where) for a in args]
            start, stop, step = (
                (0, nums[0], 1) if len(nums) == 1 else (nums[0], nums[1], nums[2] if len(nums) == 3 else 1)
            )
            if step == 0:
                raise ConfigError(f"{where}: the step of range cannot be 0")
            count = math.ceil(round((stop - start) / step, 9))  # 0.3 / 0.1 is 2.9999999999999996
            if count <= 0:
                raise ConfigError(f"{where}: range({start}, {stop}, {step}) is empty (stop is excluded)")
            if count > MAX_TRIALS:
                raise ConfigError(f"{where}: {count} values is too many (at most {MAX_TRIALS})")
            return [_clean(start + i * step) for i in range(count)]
        if func == "logspace":
            if len(args) != 3:
                raise ConfigError(f"{where}: logspace takes (a, b, n): n values from 10^a to 10^b")
            a, b, n = (_number(x, where) for x in args)
            if n < 1 or n != int(n):
                raise ConfigError(f"{where}: n in logspace(a, b, n) must be a whole number of at least 1")
            n = int(n)
            if n > MAX_TRIALS:
                raise ConfigError(f"{where}: {n} values is too many (at most {MAX_TRIALS})")
            if not (-300 <= a <= 300 and -300 <= b <= 300):
                raise ConfigError(f"{where}: 10^a and 10^b must be numbers a float holds; use a and b from -300 to 300")
            return [_clean(10 ** (a + (b - a) * i / (n - 1))) if n > 1 else _clean(10**a) for i in range(n)]
        raise ConfigError(
            f"{where}: unknown function '{func}'; use range(...), logspace(...), choice(...) "
            "or, with 'fashionlab search', uniform(...), loguniform(...), int(...)"
        )
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    items = split_top(text)
    if any(item == "" for item in items):
        raise ConfigError(f"{where}: an empty value; write values as a,b,c or [a,b,c]")
    return [parse_value(item) for item in items]


@dataclass
class Axis:
    key: str
    values: list[Any]
    text: str


def parse_axes(items: list[str]) -> tuple[list[Axis], list[Override]]:
    """Split command-line items into axes (several values) and fixed overrides (one value)."""
    axes: list[Axis] = []
    fixed: list[Override] = []
    problems: list[str] = []
    for text in items:
        try:
            key, raw = split_override(text)
            values = parse_values(raw, key)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if any(a.key == key for a in axes) or any(f[0] == key for f in fixed):
            problems.append(f"sweep axis '{key}' is given twice; list all its values in one: {key}=a,b,c")
        elif len(values) == 1:
            fixed.append((key, values[0], text))
        else:
            axes.append(Axis(key, values, text))
    if problems:
        raise ConfigError(problems)
    return axes, fixed
