"""Load a topology file: TOML -> pydantic model -> cross-reference checks.

``load(path)`` returns a validated :class:`Topology` or raises
:class:`TopologyError` listing every problem as ``file:line: path: message``.
The TOML parser gives no positions for values, so :func:`locate` finds the
line of a field path by walking the text's table headers and keys; it is a
best effort, and a problem without a line still names its path.
"""

from __future__ import annotations

import csv
import re
import tomllib
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from ims.topology.errors import Path, Problem, TopologyError
from ims.topology.schema import Topology
from ims.topology.validate import cross_check

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*(\.|=)")

CSV_COLUMNS = (
    "imsi", "impi", "impus", "msisdn", "k", "opc", "op", "amf", "sqn", "password", "service_profile",
)


def locate(text: str, path: Path) -> int | None:
    """Best-effort 1-based line of ``path`` (e.g. ``("nodes", 3, "diameter", "peers", 0)``)."""
    lines = text.splitlines()
    # Table headers: (line index, dotted name, is array element)
    headers: list[tuple[int, str, bool]] = []
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m and not line.lstrip().startswith("#"):
            headers.append((i, m.group(2).replace(" ", ""), m.group(1) == "[["))

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
            msg = f"{e['input']!r} is not one of {e.get('ctx', {}).get('expected', '')}"
        msg = msg.removeprefix("Value error, ")
        problems.append(Problem(path, msg, file, locate(text, path)))
    return problems


def read_subscribers_csv(path: FsPath) -> list[dict[str, Any]]:
    """Rows of a subscriber CSV as dicts for :class:`Subscriber` (IMPUs split on ';' or spaces)."""
    rows = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
        if unknown:
            raise ValueError(f"unknown CSV column(s): {', '.join(sorted(unknown))}")
        for row in reader:
            rec = {k: v.strip() for k, v in row.items() if v not in (None, "")}
            if "impus" in rec:
                rec["impus"] = [u for u in re.split(r"[;\s]+", rec["impus"]) if u]
            rows.append(rec)
    return rows


def loads(text: str, *, file: str = "<topology>", base_dir: FsPath | None = None) -> Topology:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise TopologyError([Problem((), f"not valid TOML: {exc}", file, int(m.group(1)) if m else None)]) from None
    problems: list[Problem] = []
    csv_name = data.get("subscribers_csv")
    if isinstance(csv_name, str):
        csv_path = (base_dir or FsPath(".")) / csv_name
        try:
            data.setdefault("subscribers", [])
            offset = len(data["subscribers"])
            data["subscribers"] = list(data["subscribers"]) + read_subscribers_csv(csv_path)
            data["_csv_offset"] = offset
        except (OSError, ValueError) as exc:
            problems.append(Problem(("subscribers_csv",), f"cannot read {csv_path}: {exc}", file,
                                    locate(text, ("subscribers_csv",))))
    csv_offset = data.pop("_csv_offset", None)
    try:
        topo = Topology.model_validate(data)
    except ValidationError as err:
        problems.extend(_pydantic_problems(err, file, text))
        if csv_offset is not None:
            problems = [_csv_row(p, csv_offset, csv_name) for p in problems]
        raise TopologyError(problems) from None
    if problems:
        raise TopologyError(problems)
    cross = [Problem(path, msg, file, locate(text, path)) for path, msg in cross_check(topo)]
    if cross:
        raise TopologyError(cross)
    return topo


def _csv_row(p: Problem, offset: int, csv_name: str | None) -> Problem:
    if len(p.path) >= 2 and p.path[0] == "subscribers" and isinstance(p.path[1], int) and p.path[1] >= offset:
        row = p.path[1] - offset + 2  # header is line 1
        return Problem(p.path, p.message, str(csv_name), row)
    return p


def load(path: str | FsPath) -> Topology:
    fs = FsPath(path)
    try:
        text = fs.read_text()
    except OSError as exc:
        raise TopologyError([Problem((), f"cannot read topology: {exc.strerror}", str(fs))]) from None
    return loads(text, file=str(fs), base_dir=fs.parent)
