"""Diameter: codec on python-diameter, the RFC 6733 peer state machine, Cx/Dx (TS 29.229)."""
