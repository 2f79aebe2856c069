"""rlsys.rollout — see README.md (architecture)."""
