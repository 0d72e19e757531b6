"""Load a flow file with the topology loader's error reporting (``file:line: steps[2].call: ...``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from ims.flow.schema import Flow
from ims.topology.errors import Problem, TopologyError
from ims.topology.loader import _pydantic_problems


class FlowError(TopologyError):
    """Problems in a flow file, one per line."""


def load_flow(path: str | Path) -> tuple[Flow, Path]:
    """The flow and the path of its topology (resolved next to the flow file)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise FlowError([Problem((), f"cannot read: {exc.strerror}", str(p))]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FlowError([Problem((), f"not TOML: {exc}", str(p), getattr(exc, "lineno", None))]) from None
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowError(_pydantic_problems(exc, str(p), text)) from None
    topology = (p.parent / flow.flow.topology).resolve()
    if not topology.exists():
        raise FlowError([Problem(("flow", "topology"), f"no such file {topology}", str(p))])
    return flow, topology
