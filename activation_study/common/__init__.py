"""What the stages share, one module per job, so that a stage depends on the jobs it uses only.

- ``errors``: the two errors a stage reports as a one-line message (exit status 2);
- ``atomic``: atomic writes of files and folders, JSON and CSV;
- ``configs``: a configuration's id and its spellings (DVC stage name and address);
- ``param_reader``: the keys of params.yaml a stage reads, checked where it uses them;
- ``seed_stats``: mean and standard error over seeds;
- ``stage_entry``: ``run`` and the command-line arguments that name a configuration.

Import the submodule, never this package: it holds no code, so that editing one job reruns
only the stages that use it (``tests/test_blast_radius.py``).
"""
