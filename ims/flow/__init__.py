"""Declarative call flows: a lab, steps on its handsets and nodes, expectations on what crossed the wire.

``ims.flow.schema`` is the file format (validated with pydantic, errors like
topology errors: ``file:line: steps[2].call.to: ...``), ``ims.flow.runner``
runs flows against a lab and reports a verdict per step (and JUnit XML).
"""
