"""Coursework: homework set and checked per lesson day (LIVE-7) and business plans reviewed online (EXAM-2).

* ``uploads`` — what a file is, judged by its magic bytes (PDF, DOCX, JPEG, PNG), and its size limits;
* ``homework`` — setting, submitting (versions), checking, and the ATT-9 day counts;
* ``businessplans`` — submitting (file or form, versions), review, the Beijing class-hour credit,
  and the read-outs eligibility and the class archive use (``plan_verdicts``, ``plan_documents``).
"""
