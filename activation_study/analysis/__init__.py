"""The analyses of a trained network: hidden-layer activations (``extraction``), node metrics
(``node_metrics``) and layers as classifiers (``layer_classifiers``)."""
