"""IMS call session control: the P-CSCF, I-CSCF and S-CSCF logic (3GPP TS 24.229) on the SIP proxy core.

Each CSCF is a sans-IO application around :class:`ims.sip.proxy.ProxyCore`:
SIP messages and a clock go in, messages to send and Cx queries
(:class:`ims.cscf.common.CxQuery`) come out.  ``ims.net.cscf`` runs them on
real sockets with a Diameter client; ``nodes/{pcscf,icscf,scscf}.py`` read
the topology and start them.
"""
