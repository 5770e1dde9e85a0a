"""Region policy profiles: the per-city numbers of subsidised entrepreneurship training, loaded from TOML."""
