"""Webhooks (PLAT-1): signed event deliveries to the URLs institutions, HR and the platform register.

``outbox.emit`` queues an event inside the caller's transaction; ``dispatcher.Dispatcher`` sends
it with retries; ``signing`` signs and verifies (receivers copy ``signing.verify``).
"""
