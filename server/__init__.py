"""Qihang server: HTTP API, signalling, auth and the domain rules of subsidised training."""
