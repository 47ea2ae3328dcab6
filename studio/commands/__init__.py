"""CLI subcommands, one module per concept; each exposes ``register(subparsers)``."""
