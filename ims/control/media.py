"""A call's media figures (``ims.net.media.MediaStream.stats()``) as a control-plane message and back.

The UE and PSTN services both carry them (``UeMedia``, ``PstnMedia``: the same
fields); an unknown round-trip time travels as -1 and comes back as None.
"""

from __future__ import annotations

from typing import Any

MEDIA_FIELDS = ("local", "remote", "codec", "payload_type", "direction", "srtp", "packets_sent", "octets_sent",
                "packets_received", "packets_expected", "packets_lost", "loss_percent", "jitter_ms", "rtt_ms",
                "dtmf_received", "rtcp_sent", "rtcp_received", "auth_failures", "malformed")


def media_msg(d: dict[str, Any], cls: Any) -> Any:
    """A ``cls`` message (UeMedia, PstnMedia) from a stats dict; empty for a call without media."""
    if not d:
        return cls()
    fields = {k: d[k] for k in MEDIA_FIELDS if d.get(k) is not None}
    fields["rtt_ms"] = -1.0 if d.get("rtt_ms") is None else d["rtt_ms"]
    return cls(**fields)


def media_dict(m: Any) -> dict[str, Any]:
    """The stats dict of a UeMedia/PstnMedia message; {} when the call has no stream."""
    if not m.local:
        return {}
    out = {k: getattr(m, k) for k in MEDIA_FIELDS}
    out["rtt_ms"] = None if m.rtt_ms < 0 else m.rtt_ms
    return out
