"""The routers, one per concern: each reads a request, calls a service, and shapes the answer."""
