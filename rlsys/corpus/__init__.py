"""rlsys.corpus — see README.md (architecture)."""
