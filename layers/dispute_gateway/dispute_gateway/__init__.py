"""Dispute Gateway: files transaction disputes with payment providers exactly once."""
