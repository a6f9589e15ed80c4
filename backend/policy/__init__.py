"""The county's policy as data: a validated timeline of parameter sets."""

from backend.policy.model import Policy, PolicySet, load_policy

__all__ = ["Policy", "PolicySet", "load_policy"]
