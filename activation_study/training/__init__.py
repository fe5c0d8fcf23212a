"""Training: the loop (``engine``) and its step (``train_step``), the optimiser
(``stacked_adam``), resume checkpoints (``checkpoints``) and the tune stage's learning-rate
search (``lr_search``). Only tune and train use it; what train writes is the train stage's
(``stages/train.py``)."""
