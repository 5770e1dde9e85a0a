"""Printable documents (PDF/XLSX): certificates, attendance reports, score sheets, rosters, archives."""
