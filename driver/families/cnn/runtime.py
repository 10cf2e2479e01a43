"""TensorFlow for this process, set up once: Keras on its TensorFlow backend, quiet logs,
and the thread pools a profiling run needs (fixed once per process by TensorFlow)."""
from __future__ import annotations

import os

_threads: list[int] = []  # the intra-op threads this process was set up with


def tensorflow(threads: int = 1):
    """The ``tensorflow`` module with ``threads`` intra-op threads and one inter-op thread
    (raises RuntimeError when this process already runs TensorFlow with another count)."""
    if _threads:
        if _threads[0] != threads:
            raise RuntimeError(f"this process runs TensorFlow with {_threads[0]} intra-op "
                               f"threads; {threads} needs a process of its own")
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started here: keep what it has
        if tf.config.threading.get_intra_op_parallelism_threads() not in (0, threads):
            raise
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()} in this process; the "
                           "CNN family profiles and analyses on TensorFlow (unset KERAS_BACKEND)")
    _threads.append(threads)
    return tf
