"""Datasets: fetching (``sources``), file readers (``readers``), the common on-disk format
(``store``) and the train / validation / test split (``split``)."""


class DataError(RuntimeError):
    """A dataset file is missing, truncated, corrupted or not what was expected."""
