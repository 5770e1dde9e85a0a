"""HR supervision views (SUP-1/2/3, PLAT-3): region-scoped dashboards over classes already planned,
taught and attended. ``dashboard`` holds the read-only queries; the HTTP layer is server/api/supervision.py."""
