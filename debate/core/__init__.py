"""The core: declarations, loading, scenarios, the engine, judges and the run store.

Everything a protocol needs to run, and nothing that belongs to one research feature.
Feature packages add step types and measures through `debate.core.registry`; the core
never imports them. See docs/architecture.md for the map.
"""
