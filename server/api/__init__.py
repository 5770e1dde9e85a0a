"""HTTP JSON API: one module per resource, all declared on one :class:`~server.api.endpoint.Api`."""
