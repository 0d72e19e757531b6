"""Load a topology file: TOML -> pydantic model -> cross-reference checks.

``load(path)`` returns a validated :class:`Topology` or raises
:class:`TopologyError` listing every problem as ``file:line: path: message``.
The TOML parser gives no positions for values, so :func:`locate` finds the
line of a field path by walking the text's table headers and keys; it is a
best effort, and a problem without a line still names its path.

A lab file is untrusted input like any other (STYLE §6a): bytes that are not
UTF-8, arrays nested past :data:`MAX_NESTING` (tomllib recurses per level),
integers beyond TOML's 64 bits or Python's int-string limit, and CSV rows
that do not fit their header all come back as :class:`TopologyError` naming
file, line and field, never as a bare Python exception.  :func:`read_toml`
does the same for flow files.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from ims.topology.errors import Path, Problem, TopologyError
from ims.topology.schema import Topology
from ims.topology.validate import cross_check

# A table header line.  One character class takes the name with its blanks (no lazy group between two
# \s* runs: that backtracked cubically, ~2 s for a "[" followed by 1000 blanks).
_HEADER = re.compile(r"^\s*(\[\[?)([A-Za-z0-9_.\-\"' \t]+)\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*(\.|=)")

CSV_COLUMNS = (
    "imsi", "impi", "impus", "msisdn", "k", "opc", "op", "amf", "sqn", "password", "service_profile",
)

#: Arrays and inline tables nested deeper than this are refused before tomllib sees them: it recurses
#: once per level (``a = [[[[...`` exhausted the stack), and no lab or flow file needs more than a few.
MAX_NESTING = 32
#: TOML 1.0 "Integer": 64-bit signed, and a value that does not fit must be an error.
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_TOKEN = re.compile(r'"""|' + r"'''" + r"""|["'#\[\]{}\n]""")
_BASIC_STRING = re.compile(r'(?:[^"\\\n]|\\.)*"')
_LONG_DIGITS = re.compile(r"[0-9_]{4000,}")
_MESSAGE_MAX = 300


def locate(text: str, path: Path) -> int | None:
    """Best-effort 1-based line of ``path`` (e.g. ``("nodes", 3, "diameter", "peers", 0)``)."""
    lines = text.splitlines()
    # Table headers: (line index, dotted name, is array element)
    headers: list[tuple[int, str, bool]] = []
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m and not line.lstrip().startswith("#"):
            headers.append((i, m.group(2).replace(" ", "").replace("\t", ""), m.group(1) == "[["))

    def block_end(start: int) -> int:
        for i, _, _ in headers:
            if i > start:
                return i
        return len(lines)

    best: int | None = None
    prefix = ""  # dotted table name we are inside
    lo, hi = 0, len(lines)
    parts = list(path)
    k = 0
    while k < len(parts):
        part = parts[k]
        if isinstance(part, str):
            name = f"{prefix}.{part}" if prefix else part
            nxt = parts[k + 1] if k + 1 < len(parts) else None
            if isinstance(nxt, int):
                # Array of tables: the nxt-th [[name]] header.
                elems = [i for i, n, arr in headers if arr and n == name and lo <= i < hi]
                if nxt < len(elems):
                    lo = elems[nxt]
                    hi = next((i for i in elems if i > lo), None) or _scope_end(headers, lo, name, len(lines))
                    best, prefix, k = lo + 1, name, k + 2
                    continue
            # Sub-table header [name] inside the current element.
            sub = [i for i, n, arr in headers if not arr and n == name and lo <= i < hi]
            if sub:
                lo, hi = sub[0], block_end(sub[0])
                best, prefix = lo + 1, name
                k += 1
                continue
            # A key in the current block (stop at the next header).
            scan_hi = min(hi, block_end(lo) if best is not None else hi)
            for i in range(lo if best is None else lo + 1, scan_hi):
                m = _KEY.match(lines[i])
                if m and m.group(1) == part:
                    best = i + 1
                    break
            return best
        k += 1
    return best


def _scope_end(headers: list[tuple[int, str, bool]], start: int, name: str, n: int) -> int:
    for i, hname, _ in headers:
        if i > start and not hname.startswith(name + ".") :
            return i
    return n


# -- bytes to TOML data -------------------------------------------------------------------------------------

def decode_text(data: bytes, file: str, error: type[TopologyError] = TopologyError, *,
                what: str = "TOML files are UTF-8", path: Path = ()) -> str:
    """``data`` as UTF-8 (a leading BOM dropped), or ``error`` naming the line of the first bad byte."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise error([Problem(path, f"not UTF-8 ({what}): byte 0x{data[exc.start]:02x} at column {column}",
                             file, line)]) from None


def too_deep(text: str, limit: int = MAX_NESTING) -> int | None:
    """The 1-based line where arrays or inline tables nest deeper than ``limit``, or None.

    Strings and comments are skipped; table headers (``[a]``, ``[[a]]``) close on their own line.
    Linear in the text, and skipped outright when it holds too few brackets to get that deep."""
    if text.count("[") + text.count("{") <= limit:
        return None
    depth, line, pos, n = 0, 1, 0, len(text)
    while pos < n:
        m = _TOKEN.search(text, pos)
        if m is None:
            return None
        token, pos = m.group(), m.end()
        if token == "\n":
            line += 1
        elif token in ("[", "{"):
            depth += 1
            if depth > limit:
                return line
        elif token in ("]", "}"):
            depth = max(0, depth - 1)
        elif token == "#":
            end = text.find("\n", pos)
            pos = n if end < 0 else end
        elif token == '"':
            basic = _BASIC_STRING.match(text, pos)
            if basic is not None:
                pos = basic.end()
        elif token == "'":
            end, eol = text.find("'", pos), text.find("\n", pos)
            if end >= 0 and (eol < 0 or end < eol):
                pos = end + 1
        else:  # a multi-line string, up to its closing delimiter (in a basic one, not an escaped quote)
            end = text.find(token, pos)
            while end > 0 and token == '"""' and _escaped(text, end, pos):
                end = text.find(token, end + 1)
            if end < 0:
                return None
            line += text.count("\n", pos, end)
            pos = end + 3
            while pos < n and text[pos] == token[0]:  # up to two quotes may end the content itself
                pos += 1
    return None


def _escaped(text: str, end: int, start: int) -> bool:
    """Whether an odd run of backslashes (after ``start``) stands right before ``end``."""
    i = end
    while i > start and text[i - 1] == "\\":
        i -= 1
    return (end - i) % 2 == 1


def _out_of_range(data: Any) -> list[tuple[Path, int]]:
    """Integers outside TOML's 64 bits, with their size in bits (tomllib takes 0x and 20 000 digits)."""
    found: list[tuple[Path, int]] = []
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in enumerate(value))
        elif type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
            found.append((path, value.bit_length()))
    return sorted(found, key=lambda f: str(f[0]))


def parse_toml(text: str, file: str, error: type[TopologyError] = TopologyError) -> dict[str, Any]:
    """``tomllib.loads`` that raises only ``error``, with the line of the fault where it can be found."""
    deep = too_deep(text)
    if deep is not None:
        raise error([Problem((), f"arrays or inline tables nested deeper than {MAX_NESTING} levels", file, deep)])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise error([Problem((), f"not valid TOML: {exc}", file, int(m.group(1)) if m else None)]) from None
    except ValueError as exc:  # an integer past sys.get_int_max_str_digits() (the CVE-2020-10735 limit)
        m = _LONG_DIGITS.search(text)
        line = text.count("\n", 0, m.start()) + 1 if m else None
        raise error([Problem((), f"integer of too many digits ({str(exc).split(';')[0]})", file, line)]) from None
    except RecursionError:  # not expected past too_deep(); kept so that no input reaches the caller raw
        raise error([Problem((), "nested too deeply", file)]) from None
    big = _out_of_range(data)
    if big:
        raise error([Problem(path, f"integer of {bits} bits does not fit TOML's 64-bit integers", file,
                             locate(text, path)) for path, bits in big])
    return data


def read_toml(path: str | FsPath, error: type[TopologyError] = TopologyError) -> tuple[str, dict[str, Any]]:
    """Text and data of a TOML file; every fault (unreadable, not UTF-8, not TOML...) is ``error``."""
    fs = FsPath(path)
    try:
        raw = fs.read_bytes()
    except OSError as exc:
        raise error([Problem((), f"cannot read: {exc.strerror or exc}", str(fs))]) from None
    except ValueError as exc:  # a NUL in the name
        raise error([Problem((), f"cannot read: {exc}", str(fs))]) from None
    text = decode_text(raw, str(fs), error)
    return text, parse_toml(text, str(fs), error)


def _brief(value: Any) -> str:
    """A short repr for a message: a huge integer or string must not become the message (or raise)."""
    try:
        text = repr(value)
    except ValueError:  # an int past the int-string limit
        return "a very large integer"
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problems(err: ValidationError, file: str, text: str) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        path: Path = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "literal_error":
            msg = f"{_brief(e['input'])} is not one of {e.get('ctx', {}).get('expected', '')}"
        msg = msg.removeprefix("Value error, ")
        if len(msg) > _MESSAGE_MAX:
            msg = msg[:_MESSAGE_MAX - 3] + "..."
        problems.append(Problem(path, msg, file, locate(text, path)))
    return problems


# -- subscriber CSV -----------------------------------------------------------------------------------------

def read_subscribers_csv(path: FsPath, name: str | None = None
                         ) -> tuple[list[dict[str, Any]], list[int], list[Problem]]:
    """Rows of a subscriber CSV as dicts for :class:`Subscriber` (IMPUs split on ';' or spaces), the line
    each row starts on, and the problems of rows that are no subscriber record at all (``name:line``).

    Blank lines are skipped; a row with more or fewer fields than the header, a line the csv module
    cannot read, or bytes that are not UTF-8 are problems.  ``OSError`` if the file cannot be read."""
    file = name or str(path)
    where = ("subscribers_csv",)
    text = decode_text(path.read_bytes(), file, what="subscriber CSV files are read as UTF-8", path=where)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[Problem] = []
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        return rows, lines, [Problem(where, f"not CSV: {exc}", file, reader.line_num or 1)]
    if not any(header):
        return rows, lines, [Problem(where, "no header line naming the columns: " + ", ".join(CSV_COLUMNS),
                                     file, 1)]
    unknown = set(header) - set(CSV_COLUMNS)
    if unknown:
        problems.append(Problem(where, f"unknown CSV column(s): {', '.join(sorted(_brief(u) for u in unknown))}",
                                file, 1))
    doubled = sorted({h for h in header if header.count(h) > 1})
    if doubled:
        problems.append(Problem(where, f"column(s) named twice: {', '.join(doubled)}", file, 1))
    if problems:
        return rows, lines, problems
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(where, f"not CSV: {exc}", file, reader.line_num))
            break
        if not fields:
            continue  # a blank line
        if len(fields) != len(header):
            problems.append(Problem(where, f"{len(fields)} fields, the header names {len(header)} columns",
                                    file, start))
            continue
        rec: dict[str, Any] = {k: v.strip() for k, v in zip(header, fields) if v.strip()}
        if "impus" in rec:
            rec["impus"] = [u for u in re.split(r"[;\s]+", rec["impus"]) if u]
        rows.append(rec)
        lines.append(start)
    return rows, lines, problems


# -- loading ------------------------------------------------------------------------------------------------

def loads(text: str, *, file: str = "<topology>", base_dir: FsPath | None = None) -> Topology:
    data = parse_toml(text, file)
    problems: list[Problem] = []
    csv_name = data.get("subscribers_csv")
    csv_lines: list[int] | None = None
    if isinstance(csv_name, str):
        csv_path = (base_dir or FsPath(".")) / csv_name
        try:
            rows, lines, csv_problems = read_subscribers_csv(csv_path, csv_name)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            problems.append(Problem(("subscribers_csv",), f"cannot read {csv_path}: {reason}", file,
                                    locate(text, ("subscribers_csv",))))
        except TopologyError as exc:  # not UTF-8
            problems.extend(exc.problems)
        else:
            problems.extend(csv_problems)
            subscribers = data.get("subscribers", [])
            if isinstance(subscribers, list):  # anything else is the schema's to report
                data["subscribers"] = subscribers + rows
                csv_lines = [0] * len(subscribers) + lines
    try:
        topo = Topology.model_validate(data)
    except ValidationError as err:
        found = _pydantic_problems(err, file, text)
        if csv_lines is not None:
            found = [_csv_row(p, csv_lines, str(csv_name)) for p in found]
        raise TopologyError(problems + found) from None
    except RecursionError:
        raise TopologyError([Problem((), "nested too deeply", file)]) from None
    if problems:
        raise TopologyError(problems)
    cross = [Problem(path, msg, file, locate(text, path)) for path, msg in cross_check(topo)]
    if cross:
        raise TopologyError(cross)
    return topo


def _csv_row(p: Problem, lines: list[int], csv_name: str) -> Problem:
    """A problem of a subscriber that came from the CSV, told at the CSV's line."""
    if len(p.path) >= 2 and p.path[0] == "subscribers" and isinstance(p.path[1], int) \
            and p.path[1] < len(lines) and lines[p.path[1]]:
        return Problem(p.path, p.message, csv_name, lines[p.path[1]])
    return p


def load(path: str | FsPath) -> Topology:
    fs = FsPath(path)
    try:
        raw = fs.read_bytes()
    except OSError as exc:
        raise TopologyError([Problem((), f"cannot read topology: {exc.strerror or exc}", str(fs))]) from None
    except ValueError as exc:  # a NUL in the name
        raise TopologyError([Problem((), f"cannot read topology: {exc}", str(fs))]) from None
    return loads(decode_text(raw, str(fs)), file=str(fs), base_dir=fs.parent)
