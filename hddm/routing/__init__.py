"""Routing: router scores -> per-expert weights -> one combined velocity field (pure torch)."""
