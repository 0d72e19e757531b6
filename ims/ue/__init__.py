"""Simulated VoLTE handsets: the IMS UE core (``handset``) and its SDP (``sdp``); ``nodes/ue.py`` runs many."""
