"""A node's limits and overload control, from its lab file onto its SIP stack and Diameter node.

The topology's ``[limits]`` (lab-wide) and ``[nodes.limits]`` (per node) name fields of the library's
own dataclasses (:class:`ims.sip.limits.SipLimits`, :class:`ims.diameter.codec.DiameterLimits`,
:class:`ims.net.overload.OverloadConfig`); this module builds them and hands them to the drivers, so
every node kind applies them the same way.  ``IMS_OVERLOAD`` in a node's environment (the benchmark's
switch) wins over the lab file for overload control.  Handsets (kind ``ue``) shed nothing unless the
lab file says ``enabled = true`` for them: a simulated phone is not a network node.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ims.net.overload import RequestLimit, SipAdmission

if TYPE_CHECKING:
    from ims.net.diameter import DiameterNode
    from ims.net.sip import SipStack
    from ims.topology.schema import Limits


def apply_limits(limits: Limits, *, kind: str, stacks: tuple[SipStack, ...] = (),
                 diameter: DiameterNode | None = None) -> None:
    """Set the message limits and overload control of a node's stacks (before they run)."""
    overload = limits.overload_config()
    from_env = bool(os.environ.get("IMS_OVERLOAD", "").strip())
    shed = overload.enabled and (kind != "ue" or limits.overload.get("enabled") is True)
    sip_limits = limits.sip_limits()
    for stack in stacks:
        stack.limits = sip_limits
        if not from_env:
            stack.overload = SipAdmission(overload) if shed else None
    if diameter is not None:
        diameter.limits = limits.diameter_limits()
        if not from_env:
            diameter.admission = RequestLimit(overload.diameter_in_progress if overload.enabled else 0)
