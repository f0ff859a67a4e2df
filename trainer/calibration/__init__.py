"""Per-head calibration: learned logistic transforms of each head's logit, and the methods they are compared with."""
