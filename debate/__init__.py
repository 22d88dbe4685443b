"""debate: declarative multi-agent debate and argumentation protocols.

The package holds mechanisms (engine, models, judges, metrics); the protocols,
agents, judges and scenario sets themselves are YAML declarations. Importing it
never imports torch or transformers: model backends load lazily.
"""

__version__ = "0.1.0"
