"""`make serve` (`python -m local.serve`): the service on this machine until Ctrl-C."""
