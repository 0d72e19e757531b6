"""Load a flow file with the topology loader's error reporting (``file:line: steps[2].call: ...``).

A flow file is read as untrusted as a topology (STYLE §6a): unreadable, not UTF-8, not TOML, nested
too deep, integers past 64 bits, fields the schema refuses - each is a :class:`FlowError` naming the
file and, where it can be found, the line and field.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ims.flow.schema import Flow
from ims.topology.errors import Problem, TopologyError
from ims.topology.loader import _pydantic_problems, read_toml


class FlowError(TopologyError):
    """Problems in a flow file, one per line."""


def load_flow(path: str | Path) -> tuple[Flow, Path]:
    """The flow and the path of its topology (resolved next to the flow file)."""
    p = Path(path)
    text, data = read_toml(p, FlowError)
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowError(_pydantic_problems(exc, str(p), text)) from None
    except RecursionError:
        raise FlowError([Problem((), "nested too deeply", str(p))]) from None
    try:
        topology = (p.parent / flow.flow.topology).resolve()
        found = topology.is_file()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise FlowError([Problem(("flow", "topology"), f"not a usable path: {exc}", str(p))]) from None
    if not found:
        raise FlowError([Problem(("flow", "topology"), f"no such file {topology}", str(p))])
    return flow, topology
