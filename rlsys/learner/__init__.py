"""rlsys.learner — see README.md (architecture)."""
