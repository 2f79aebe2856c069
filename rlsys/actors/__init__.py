"""rlsys.actors — see README.md (architecture)."""
