"""The network: the batched MLP (``model``) and the trained models a train stage stored
(``stored``). Training and every analysis of a trained network use this folder."""
