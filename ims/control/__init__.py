"""The control plane: a gRPC service per node (health, counters, node actions) and its client.

Importing this package makes sure the generated gRPC modules exist
(``ims.control.codegen``).
"""

from ims.control.codegen import ensure_generated

ensure_generated()
