"""params.yaml checked whole: ``schema`` (the validate stage's; pydantic) and ``validated``
(for the plan, the pipeline runner and the tests). The computing stages read their keys with
the small reader of ``activation_study.common.param_reader`` instead, without the schema."""
