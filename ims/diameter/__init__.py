"""Diameter for the lab: python-diameter's codec, the RFC 6733 peer state machine, Cx/Dx (TS 29.229).

* ``codec`` - ``DiameterMessage`` over python-diameter's ``Message``/``Avp``, framing checks, and the
  guarded decoder of untrusted bytes (``DiameterLimits``: size, AVP count, nesting);
* ``peer`` - the sans-IO peer (CER/CEA, DWR/DWA per RFC 3539, DPR/DPA, request matching);
* ``cx`` - typed Cx/Dx requests and answers; ``userdata`` - the TS 29.228 Annex E XML;
* ``constants`` / ``errors`` - numbers and the typed ``DiameterError``.

The trio TCP driver is ``ims.net.diameter.DiameterNode``.  Sh and Rx are not built.
"""
