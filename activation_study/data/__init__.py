"""Datasets. ``download`` code: fetching (``sources``), file readers (``readers``), files of
the user's own (``user_files``) and the common on-disk format (``store``); ``split`` code: the
train / validation / test split (``split``); read by training and extraction: the stored
arrays (``arrays``), nothing else of this folder."""
