"""`make demo` (`python -m local.demo`): the service filing disputes through every route."""
