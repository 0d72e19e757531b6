"""BGCF node: breakout toward the PSTN (TS 24.229 §5.6); the logic is ``ims.cscf.bgcf``.

    python -m nodes.bgcf --topology topologies/volte-pstn.toml --node bgcf

Listens for SIP on the node's address; a request for a telephone number goes
to the MGCF of the longest matching ``[[pstn.ranges]]`` prefix of the lab
file (404 when none matches); serves the gRPC control service on its control port.
"""

from __future__ import annotations

import sys

from ims.cscf.bgcf import Bgcf
from ims.cscf.lab import bgcf_config
from ims.net.cscf import run_cscf_node


def main(argv: list[str] | None = None) -> int:
    return run_cscf_node("bgcf", lambda topo, node: Bgcf(bgcf_config(topo, node)), argv, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
