"""Activation-function study: data, batched multi-seed MLP training, analyses and plots."""
