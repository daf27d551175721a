"""Data for the learning side: FEM datasets, the FEM `Physics` for training and its process pool."""
