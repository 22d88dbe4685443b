"""Feature commands. Every module here registers its commands on `debate.cli.app` when the
CLI starts, so each must import heavy dependencies (torch, TRL, ray) inside its functions."""
