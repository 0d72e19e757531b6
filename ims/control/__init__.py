"""The control plane: the gRPC service every node serves beside its trio loop, and its client.

* ``ims.control.server.ControlServer`` — the Node service (Health, Stats,
  Config, Shutdown, Events) plus node-specific services added with
  ``add_servicer``; the grpcio-threads/trio bridge is explained there.
* ``ims.control.events`` — the node's event bus (messages sent/received).
* ``ims.control.client`` — ``NodeClient``/``wait_healthy``, synchronous, for
  the ``ims`` command, tests and users' scripts.
* ``ims.control.codegen`` — compiles ``protos/*.proto`` into ``ims.control.gen``.

Importing this package makes sure the generated modules exist and are
current (:func:`ims.control.codegen.ensure_generated`), so
``from ims.control.gen import node_pb2, node_pb2_grpc`` works after it.
"""

from ims.control.codegen import ensure_generated

ensure_generated()
