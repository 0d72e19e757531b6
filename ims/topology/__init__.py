"""Declarative lab topologies: schema, loading, validation.

``load(path)`` -> :class:`Topology` or :class:`TopologyError` with one
readable line per problem (file, line, field path, message).
"""

from ims.topology.errors import Problem, TopologyError, format_path
from ims.topology.loader import load, loads
from ims.topology.schema import Node, Subscriber, Topology

__all__ = ["Node", "Problem", "Subscriber", "Topology", "TopologyError", "format_path", "load", "loads"]
