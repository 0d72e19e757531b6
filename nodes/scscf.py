"""S-CSCF node: registrar and session control (TS 24.229 §5.4); the logic is ``ims.cscf.scscf``.

    python -m nodes.scscf --topology topologies/volte-basic.toml --node scscf

Listens for SIP on the node's address, authenticates registrations with
vectors from the HSS (MAR/SAR over Diameter Cx; answers RTR and PPR), sends
reg-event NOTIFYs, applies iFCs and routes sessions; serves the gRPC
control service on its control port.
"""

from __future__ import annotations

import sys

from ims.cscf.lab import scscf_config
from ims.cscf.scscf import Scscf
from ims.net.cscf import run_cscf_node


def main(argv: list[str] | None = None) -> int:
    return run_cscf_node("scscf", lambda topo, node: Scscf(scscf_config(topo, node)), argv, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
