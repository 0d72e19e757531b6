"""I-CSCF node: the home network's entry point (TS 24.229 §5.3); the logic is ``ims.cscf.icscf``.

    python -m nodes.icscf --topology topologies/volte-basic.toml --node icscf

Listens for SIP on the node's address, asks the HSS (UAR, LIR over Diameter
Cx to its ``diameter.peers``) which S-CSCF serves a user and forwards there;
serves the gRPC control service on its control port.
"""

from __future__ import annotations

import sys

from ims.cscf.icscf import Icscf
from ims.cscf.lab import icscf_config
from ims.net.cscf import run_cscf_node


def main(argv: list[str] | None = None) -> int:
    return run_cscf_node("icscf", lambda topo, node: Icscf(icscf_config(topo, node)), argv, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
