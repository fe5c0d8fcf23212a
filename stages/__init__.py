"""One thin entry module per DVC stage; the work happens in ``activation_study``."""
