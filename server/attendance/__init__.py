"""Attendance (ATT-1…4): computed from the lesson event log, never stored as a second truth.

Like BigBlueButton's analytics, everything here is a pure function over a lesson's events (join,
leave, publish, page visibility, face checks…), so a figure can be recomputed and explained at
any time: ``intervals`` is the time arithmetic, ``lessonattendance`` the rules.
"""
