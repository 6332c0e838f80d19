"""The study layer: what a study *is*, without the deep-learning stack.

Config loading and checks (`config`), task definitions (`tasks`, from config/tasks.yaml and the study's own),
the method registry (`methods`, from config/methods.yaml), the grid of runs with every job's settings (`plan`),
and where models and data come from (`assets`, `sources`). The Snakefile plans from these modules alone; no module
here imports torch, transformers, datasets or evaluate, nor any module of the compute layer (the rest of swa_study).
"""
