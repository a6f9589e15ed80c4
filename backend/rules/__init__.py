"""The domain rules: pure functions of (policy, facts) that return decisions and amounts.

One module per section of DOMAIN.md (docs/architecture.md has the table). Nothing here reads
the database, the clock or the network: services gather the facts, call a rule, and write
what it decided. The set-based payroll SQL takes its constants and flags from here too, and
a property test (tests/backend/test_rules_payroll_property.py) binds it to `payment.line`.
"""
