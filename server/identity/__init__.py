"""Identity checks and personal-data protection: resident IDs, contacts, photos, field encryption (REG-1, REG-2, PLAT-3)."""
