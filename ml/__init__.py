"""cyclecast surrogate models: training, transfer, sampling, answers and metrics, over any
design-space family (:mod:`driver.families`).

Reads tabular study data and study specs only; never imported by the analysis driver.
"""
import os

# TensorFlow's start-up notices (oneDNN, absl, CUDA probing) would bury a user's output;
# set before anything in ml/ imports TensorFlow. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")
