"""rlsys.judge — see README.md (architecture)."""
