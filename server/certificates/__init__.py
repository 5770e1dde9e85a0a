"""Numbered, sealed electronic certificates (CERT-1..4): numbering, sealing, issuance and verification."""
