"""Training: the loop (``engine``) and its step (``train_step``), the optimiser
(``stacked_adam``), resume checkpoints (``checkpoints``), the learning-rate search
(``lr_search``) and the train stage's outputs (``outputs``). Only tune and train use it."""
