"""Recorded course packages (COURSE-1/2/3, CLS-4): the publishing rules and their place in class planning."""
