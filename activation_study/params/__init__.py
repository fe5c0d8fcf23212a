"""params.yaml. ``reader``: the small reader every computing stage uses (no schema, no
pydantic); ``schema`` (the validate stage's) and ``validated``: the whole file checked, for
the validate stage, the plan, the pipeline runner and the tests."""
