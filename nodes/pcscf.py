"""P-CSCF node: the UE's entry point on Gm (TS 24.229 §5.2); the logic is ``ims.cscf.pcscf``.

    python -m nodes.pcscf --topology topologies/volte-basic.toml --node pcscf

Listens for SIP on the node's address (UDP and TCP), forwards REGISTER to
its I-CSCF, asserts identities and follows the Service-Route for requests
from registered UEs; serves the gRPC control service on its control port.
"""

from __future__ import annotations

import sys

from ims.cscf.lab import pcscf_config
from ims.cscf.pcscf import Pcscf
from ims.net.cscf import run_cscf_node


def main(argv: list[str] | None = None) -> int:
    return run_cscf_node("pcscf", lambda topo, node: Pcscf(pcscf_config(topo, node)), argv, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
