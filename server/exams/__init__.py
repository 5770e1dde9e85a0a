"""Online final exam domain (EXAM-1): the question bank's rules, drawing papers, grading.

Pure functions over plain values; the endpoints in server/api/exams.py load and store the rows.
"""
