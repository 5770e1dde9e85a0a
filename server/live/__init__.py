"""Live room groundwork: the lesson event log, presence derived from it, and the broadcast bus."""
