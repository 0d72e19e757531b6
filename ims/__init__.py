"""IMS core network simulator library.

Protocol cores here are sans-IO: they take bytes or events and the time, and
return what to send and which timers to arm.  Only ``ims.net`` (and the
gRPC bridge in ``ims.control``) touch sockets.  Nothing in ``ims`` imports
``nodes``.
"""

__version__ = "0.1.0"
