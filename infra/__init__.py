"""The Pulumi program's building blocks: settings, policy documents and one component per concern.

Nothing here is imported by the harness (`evaluation/`); it needs the `infra` extra (pulumi, pulumi-aws).
"""
