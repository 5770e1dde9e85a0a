"""Recorded-lesson study (ATT-5, PLAT-1): heartbeats, human-machine prompts and face snapshots,
all written to the lesson event log; credited time is derived in server/attendance/recordedstudy.py."""
