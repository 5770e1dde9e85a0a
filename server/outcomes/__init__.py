"""What a course ends in: eligibility for the certificate (EXAM-3, CLS-7)."""
