"""The activation functions of the study, one file each: ``<name>.py`` defines the function
``name`` (README, "Adding an activation"). ``_catalogue`` reads the names and shape parameters
without running the files (the torch-free ``validate`` uses it); ``_definition`` loads one
file as an :class:`~activation_study.activations._definition.Activation`.

A stage of one configuration depends on ``_definition.py`` and on its own activation's file
only, so editing ``sigmoid.py`` reruns the sigmoid configurations and nothing else (and the
cheap ``validate`` and ``plot_activations``, which depend on the whole folder), and a new file
reruns no training or analysis that exists.
"""
