"""The HTTP API: app factory, routes, inference queue, server."""
