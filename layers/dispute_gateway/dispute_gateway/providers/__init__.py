"""One module per payment provider, each behind the `DisputeProvider` interface of `base`."""
