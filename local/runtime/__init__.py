"""The functions' side of the local stack: cold starts, event source pollers, the HTTP API."""
