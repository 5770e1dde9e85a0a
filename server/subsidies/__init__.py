"""Subsidy rosters, success evidence, REG-4 duplicates, disclosure and application bundles (SUB-1..4, REG-4)."""
