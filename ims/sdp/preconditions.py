"""The QoS precondition of one media stream, as one end sees it (RFC 3312, TS 24.229 §6.1.2), sans-IO.

VoLTE uses the *segmented* model: each end reserves its own access
segment ("local") and learns about the other one ("remote") from the
peer's SDP, where the words are swapped (its ``local`` is our ``remote``).
:class:`QosPrecondition` keeps the RFC 3312 §5 tables — current status and
desired status (with strength) per segment and direction, plus the
confirmation the peer asked for — and answers the questions a session
needs: what to put in our next SDP (:meth:`lines`), whether we owe the
peer an update (:meth:`update_needed`, e.g. an UPDATE once our bearer is
up, §6), and whether the precondition is met so the callee may alert
(:attr:`met`, §8: mandatory desires covered by the current status; a
``failure`` strength fails the session, §5.1).

End-to-end status lines (``e2e``) are not modelled: VoLTE does not use
them.  Time and signalling are the caller's: it calls :meth:`local_reserved`
when its bearer comes up and :meth:`on_remote` with each SDP from the peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ims.sdp.model import Media, Precondition, SessionDescription, SdpError

def _union(a: str, b: str) -> str:
    have = {a, b} - {"none"}
    if not have:
        return "none"
    if "sendrecv" in have or have == {"send", "recv"}:
        return "sendrecv"
    return have.pop()


@dataclass
class _Segment:
    current: str = "none"  # what is reserved now
    desired: str = "sendrecv"  # what is needed
    strength: str = "mandatory"


def _covers(current: str, desired: str) -> bool:
    return desired == "none" or current == "sendrecv" or current == desired


@dataclass
class QosPrecondition:
    """One stream's segmented QoS precondition from this end's point of view."""

    local: _Segment = field(default_factory=_Segment)
    remote: _Segment = field(default_factory=_Segment)
    confirm_to_peer: str = "none"  # the peer's a=conf: tell it when our (its remote) segment reaches this
    told: str = "none"  # our local current status as last put in an SDP to the peer
    failed: str = ""  # why the precondition cannot be met (a "failure" strength, §5.1)

    # -- events ------------------------------------------------------------------------------
    def local_reserved(self, direction: str = "sendrecv") -> None:
        """Our access bearer now carries ``direction`` (in the lab: as soon as the session asks)."""
        self.local.current = _union(self.local.current, direction)

    def on_remote(self, sdp: SessionDescription | Media | bytes) -> bool:
        """Take in the peer's status lines (its local is our remote); False if it sent none."""
        media = _audio(sdp)
        try:
            lines = media.preconditions() if media is not None else []
        except SdpError:
            return False  # unreadable status lines: nothing learnt
        if not any(p.type == "qos" for p in lines):
            return False
        for p in lines:
            if p.type != "qos" or p.status_type == "e2e":
                continue
            ours = self.remote if p.status_type == "local" else self.local
            if p.kind == "curr":
                if p.status_type == "local":  # its own segment: authoritative
                    self.remote.current = p.direction
            elif p.kind == "des":
                if p.strength == "failure":
                    self.failed = f"the peer cannot meet the {p.status_type} precondition ({p.direction})"
                elif p.strength == "mandatory" or (p.strength == "optional" and ours.strength != "mandatory"):
                    # §5.1: the stronger desire wins; the directions wanted add up
                    ours.desired = _union(ours.desired, p.direction)
                    ours.strength = p.strength
            elif p.kind == "conf" and p.status_type == "remote":
                self.confirm_to_peer = _union(self.confirm_to_peer, p.direction)  # §5.1: our segment
        return True

    # -- questions ---------------------------------------------------------------------------
    @property
    def met(self) -> bool:
        """RFC 3312 §8: every mandatory desire covered by the current status of its segment."""
        return not self.failed and all(_covers(s.current, s.desired) or s.strength != "mandatory"
                                       for s in (self.local, self.remote))

    def update_needed(self) -> bool:
        """Our segment changed since the peer last heard of it, and it matters to the peer: it asked for a
        confirmation, or it waits for our segment before it may alert (§6: the offerer's UPDATE)."""
        return self.local.current != self.told and (
            self.confirm_to_peer != "none" or _covers(self.local.current, self.local.desired))

    def lines(self, *, confirm: bool = False) -> list[Precondition]:
        """The a=curr/a=des (and a=conf) lines of our next SDP; marks our local status as told."""
        self.told = self.local.current
        out = [Precondition("curr", "qos", None, "local", self.local.current),
               Precondition("curr", "qos", None, "remote", self.remote.current),
               Precondition("des", "qos", self.local.strength, "local", self.local.desired),
               Precondition("des", "qos", self.remote.strength, "remote", self.remote.desired)]
        if confirm and not _covers(self.remote.current, self.remote.desired):
            out.append(Precondition("conf", "qos", None, "remote", self.remote.desired))  # §5.1
        return out


def _audio(sdp: SessionDescription | Media | bytes) -> Media | None:
    if isinstance(sdp, Media):
        return sdp
    if isinstance(sdp, bytes):
        try:
            sdp = SessionDescription.parse(sdp)
        except SdpError:
            return None
    return next((m for m in sdp.media if m.media == "audio" and m.port), None)
