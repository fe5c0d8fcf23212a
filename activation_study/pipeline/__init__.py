"""Running the pipeline, never a stage's code: parallel runs (``parallel``, ``clusters``,
``stage_guard``), the DAG (``dag``), the plan (``plan``) and repairing a killed run
(``recover``). No stage depends on this folder."""
