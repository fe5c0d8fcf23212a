"""The activation functions of the study, one file each: ``<name>.py`` defines the function
``name`` (docs/activations.md). ``_catalogue`` reads the names and shape parameters without
running the files (the torch-free ``validate`` uses it); ``network.model.get_activation``
loads one file as an :class:`~activation_study.network.model.Activation`.

A file imports nothing of the project, and a stage of one configuration depends on its own
activation's file only, so editing ``sigmoid.py`` reruns the sigmoid configurations and
nothing else (and the cheap ``validate`` and ``plot_activations``, which depend on the whole
folder), and a new file reruns no training or analysis that exists.
"""
