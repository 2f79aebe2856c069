"""rlsys.sandbox — see README.md (architecture)."""
