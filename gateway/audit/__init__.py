"""The decision log: every policy decision, in OPA's decision-log shape, for auditors."""
