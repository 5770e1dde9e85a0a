"""Authentication (passwords, login sessions, lockout) and authorisation (roles, tenancy scope)."""
