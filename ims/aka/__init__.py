"""IMS-AKA: Milenage (TS 35.206), vectors and SQN management (TS 33.102), the USIM side.

Not here: the SIP digest that carries AKA (``ims.sip.auth``), the HSS store.
"""

from ims.aka.milenage import AkaError, Milenage, compute_opc
from ims.aka.usim import AkaResult, MacFailure, SyncFailure, Usim
from ims.aka.vectors import AuthVector, SqnScheme, generate_vector, make_auts, resync

__all__ = ["AkaError", "AkaResult", "AuthVector", "MacFailure", "Milenage", "SqnScheme", "SyncFailure", "Usim",
           "compute_opc", "generate_vector", "make_auts", "resync"]
