"""params.yaml. ``reader``: the small reader every computing stage uses (no schema, no
pydantic); ``schema`` and ``validated``: the whole file checked, for the validate stage, the
plan and the docs; ``choices``: the names a choice parameter allows."""
