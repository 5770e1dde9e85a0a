"""Domain rules from the regulations, kept apart from HTTP so each can be tested alone."""
