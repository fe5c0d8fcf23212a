"""The study report (reports/study.md): see ``render``."""
