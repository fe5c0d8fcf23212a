"""Figures: the shared style (``style``), learning curves and accuracy (``curves``), sparsity
(``sparsity``), per-network figures (``network``, assembled for one configuration by
``config_figures``) and layer classifiers (``classifiers``). Only the plot stages use it."""
