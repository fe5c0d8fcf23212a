"""Training: the loop (``engine``) and its step (``train_step``), the optimiser
(``stacked_adam``) and resume checkpoints (``checkpoints``). Only tune and train use it; the
learning-rate search is the tune stage's own code (``stages/tune.py``), and what train writes
the train stage's (``stages/train.py``)."""
