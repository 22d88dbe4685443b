"""Extra step types. Every module in this package is imported before a protocol is parsed,
and registers its step types with `debate.steps.register_step`."""
