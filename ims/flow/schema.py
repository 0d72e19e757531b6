"""The flow file (``flows/*.toml``): which lab, and the steps to run on it.

    [flow]
    name = "IMS-AKA registration"
    topology = "volte-flows.toml"          # relative to the flow file

    [[steps]]
    register = "alice"                     # expect = 200 (default)

    [[steps]]
    expect_message = { path = "scscf -> hss", name = "MAR" }

    [[steps]]
    call = { from = "alice", to = "sip:bob@ims.mnc001.mcc001.3gppnetwork.org", expect = "confirmed" }

Each step holds exactly one action: ``register``, ``deregister``, ``call``,
``answer``, ``reject``, ``hangup``, ``hold``, ``resume``, ``message``, ``wait`` (seconds),
``impair``, ``network_deregister`` (RTR from the HSS), or an expectation:
``expect_message`` (a named message crossed ``src -> dst``, optionally with a
header that ``equals``/``contains`` a value), ``expect_call`` (a handset's
latest call is in a state / ended with a status / set up within
``max_setup_ms``), ``expect_media`` (the voice of a handset's latest call:
packets received, loss, jitter, SRTP, codec, RFC 4733 digits), ``expect_registered``; on a lab with a
simulated exchange ``pstn_call``/``pstn_hangup`` and ``expect_pstn`` (state, Q.850 cause, media of the
exchange's latest call).  Message expectations look at
what crossed the lab since the last action step began.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ACTIONS = ("register", "deregister", "call", "answer", "reject", "hangup", "hold", "resume", "dtmf", "message",
           "wait", "impair", "network_deregister", "pstn_call", "pstn_hangup")
EXPECTATIONS = ("expect_message", "expect_call", "expect_media", "expect_registered", "expect_pstn")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FlowInfo(_Strict):
    name: str
    topology: str
    description: str = ""


class Register(_Strict):
    ue: str
    expect: int = 200


class Call(_Strict):
    from_: str = Field(alias="from")
    to: str
    expect: Literal["calling", "ringing", "early", "confirmed", "failed", "ended"] | int = "confirmed"
    timeout: float = Field(10.0, gt=0, le=120)


class Reject(_Strict):
    ue: str
    status: int = Field(486, ge=400, le=699)


class Message(_Strict):
    from_: str = Field(alias="from")
    to: str
    text: str = "hello"
    expect: int = 200


class Dtmf(_Strict):
    ue: str
    digits: str
    method: Literal["info", "rtp"] = "info"  # SIP INFO application/dtmf-relay, or RFC 4733 in the media


class Impair(_Strict):
    node: str
    peer: str = "*"
    delay_ms: float = Field(0, ge=0, le=60000)
    jitter_ms: float = Field(0, ge=0, le=60000)
    loss: float = Field(0, ge=0, le=100)
    pause: float = 0
    clear: bool = False


class ExpectMessage(_Strict):
    path: str  # "scscf -> hss", "alice -> pcscf", "* -> bob"
    name: str  # SIP method, status code, or Diameter command (MAR, SAA...)
    header: str | None = None
    equals: str | None = None
    contains: str | None = None
    body_contains: str | None = None  # e.g. "a=sendonly" in the SDP
    absent: bool = False  # the message (with the header/body above, when given) must NOT have crossed
    timeout: float = Field(5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _path(self) -> ExpectMessage:
        if "->" not in self.path:
            raise ValueError(f"path {self.path!r} must read 'SRC -> DST' (node or handset names, or *)")
        return self


class ExpectCall(_Strict):
    ue: str
    state: str | None = None
    status: int | None = None
    held: bool | None = None
    dtmf: str | None = None  # the digits the handset received in the call
    max_setup_ms: float | None = None
    timeout: float = Field(10.0, gt=0, le=120)


class ExpectMedia(_Strict):
    """The RTP stream of a handset's latest call (as its status reports it, RFC 3550 figures)."""

    ue: str
    min_packets: int = Field(1, ge=0)  # received, in total; waited for until ``timeout``
    max_loss_percent: float | None = Field(None, ge=0, le=100)
    min_loss_percent: float | None = Field(None, ge=0, le=100)  # e.g. an impairment really bites
    max_jitter_ms: float | None = Field(None, ge=0)
    srtp: bool | None = None  # SRTP in use (True) / plain RTP (False)
    codec: str | None = None  # e.g. "AMR-WB/16000"
    direction: str | None = None  # sendrecv, sendonly, recvonly, inactive
    dtmf: str | None = None  # RFC 4733 digits received
    rtt: bool = False  # an RTCP round-trip time was measured
    timeout: float = Field(10.0, gt=0, le=120)


class PstnCall(_Strict):
    """A call from a line of the lab's simulated exchange (ISUP IAM toward the MGCF)."""

    from_: str = Field(alias="from")  # the line's number (digits)
    to: str  # digits or +E.164 of the callee
    expect: str = "answered"  # the state to wait for: answered, alerting, released...
    timeout: float = Field(15.0, gt=0, le=120)


class ExpectPstn(_Strict):
    """The exchange's latest call (or circuit ``cic``): its state, Q.850 cause, media figures."""

    state: str | None = None  # idle, iam_sent, iam_received, alerting, answered, releasing, released
    cause: int | None = None
    cic: int = 0
    min_packets: int | None = None  # RTP packets received on the circuit
    max_loss_percent: float | None = None
    timeout: float = Field(10.0, gt=0, le=120)


class ExpectRegistered(_Strict):
    ue: str
    registered: bool = True
    timeout: float = Field(10.0, gt=0, le=120)


class Step(_Strict):
    name: str | None = None  # a label for the report
    register_: str | Register | None = Field(None, alias="register")
    deregister: str | None = None
    call: Call | None = None
    answer: str | None = None
    reject: str | Reject | None = None
    hangup: str | None = None
    hold: str | None = None
    resume: str | None = None
    dtmf: Dtmf | None = None
    message: Message | None = None
    wait: float | None = Field(None, ge=0, le=300)
    impair: Impair | None = None
    network_deregister: str | None = None  # an IMPU or IMPI: RTR from the HSS
    pstn_call: PstnCall | None = None
    pstn_hangup: int | None = None  # a circuit (0: the exchange's latest call)
    expect_message: ExpectMessage | None = None
    expect_call: ExpectCall | None = None
    expect_media: ExpectMedia | None = None
    expect_registered: str | ExpectRegistered | None = None
    expect_pstn: ExpectPstn | None = None

    def get(self, kind: str) -> object:
        return getattr(self, "register_" if kind == "register" else kind)

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [k for k in ACTIONS + EXPECTATIONS if self.get(k) is not None]
        if len(given) != 1:
            what = ", ".join(given) if given else "nothing"
            raise ValueError(f"a step holds exactly one of {', '.join(ACTIONS + EXPECTATIONS)}; this one has {what}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ACTIONS + EXPECTATIONS if self.get(k) is not None)

    def label(self) -> str:
        if self.name:
            return self.name
        value = self.get(self.kind)
        if isinstance(value, BaseModel):
            text = ", ".join(f"{k}={v}" for k, v in value.model_dump(by_alias=True, exclude_defaults=True).items())
        else:
            text = str(value)
        return f"{self.kind} {text}"


class Flow(_Strict):
    flow: FlowInfo
    steps: list[Step] = Field(min_length=1)
