"""A run's messages as evidence: event files (``record``) and ladder diagrams (``ladder``).

Nodes publish every message they send and receive on their control-plane
event stream; the demo and ``ims flow run`` collect them.  ``record`` keeps
them as JSON lines, ``ladder`` draws them as a sequence diagram (text, SVG,
self-contained HTML), and ``ims.net.pcap.write_events`` as a capture.
"""
