"""Tests of the control plane (ims.control) and the node runtime (ims.net.node)."""
