"""The Deffe multichannel 1-D CNN: the features as a 1-D signal of length ``features``
with one channel, Conv1D 32 -> Conv1D 64 (kernel 3) -> dense layers with dropout -> one
output, ln(y) standardised, y being the objective (e.g. cycles or seconds). Trained with
Adam and early stopping on the validation MAPE (best weights restored). ``loss="exp"``
trains on the paper's exponential-output loss, the relative error of exp(prediction)
against y, instead of MSE on logs.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import mape
from .base import Surrogate

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
MODEL_FILE = "model.keras"
CONV_PREFIX = "conv"
ARCHITECTURE = ("filters", "kernel_size", "dense", "dropout")  # the network's shape


def _keras():
    import keras
    import tensorflow as tf

    # Retracing warnings (one per new input shape: harmless here) would bury the progress.
    tf.get_logger().setLevel("ERROR")
    return keras


def build(features: int, filters=(32, 64), kernel_size=3, dense=(256, 128), dropout=0.2):
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input(shape=(features, 1), name="features")
    x = inputs
    for i, f in enumerate(filters):
        x = layers.Conv1D(f, kernel_size, padding="same", activation="relu",
                          name=f"{CONV_PREFIX}{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = layers.Dense(1, name="ln_response")(x)
    return keras.Model(inputs, outputs, name="deffe_cnn")


def conv_layers(model) -> list:
    return [layer for layer in model.layers if layer.name.startswith(CONV_PREFIX)]


class CNN(Surrogate):
    name = "cnn"
    target = "log"  # always: a residual CNN is a Residual around one

    def __init__(self, seed: int = 0, epochs: int = 1000, patience: int = 50,
                 batch_size: int = 64, learning_rate: float = 1e-3, loss: str = "mse",
                 filters=(32, 64), kernel_size: int = 3, dense=(256, 128), dropout: float = 0.2,
                 weight_decay: float = 0.0, lr_decay: bool = True, progress: bool = True):
        """Every hyperparameter of the network and its training, declared once here
        (:meth:`get_params`); the CLIs feed these keyword arguments."""
        self.seed, self.epochs, self.patience = seed, epochs, patience
        self.batch_size, self.learning_rate, self.loss = batch_size, learning_rate, loss
        self.filters, self.kernel_size = tuple(filters), kernel_size
        self.dense, self.dropout = tuple(dense), dropout
        self.progress, self.weight_decay, self.lr_decay = progress, weight_decay, lr_decay
        self.model: Any = None  # a keras.Model once built or loaded (Keras is imported lazily)
        self.x_mean: np.ndarray | None = None
        self.x_std: np.ndarray | None = None
        self.y_mean, self.y_std = 0.0, 1.0

    @property
    def architecture(self) -> dict:
        """The network's shape (what a bundle saves under "architecture")."""
        return {"filters": list(self.filters), "kernel_size": self.kernel_size,
                "dense": list(self.dense), "dropout": self.dropout}

    def set_params(self, **params) -> CNN:
        # A built network has its shape: another one would need new weights.
        reshaped = [k for k in ARCHITECTURE if k in params
                    and self.model is not None and params[k] != getattr(self, k)]
        if reshaped:
            from ..errors import DataError

            raise DataError(f"model {self.label}: {', '.join(reshaped)}: a trained "
                            "network keeps its shape")
        for name in ("filters", "dense"):
            if name in params:
                params[name] = tuple(params[name])
        return super().set_params(**params)

    def warm_start(self, **params) -> CNN:
        """The next ``fit`` continues from these weights (pass it ``keep_scalers=True``
        to keep the input scaling too), with ``params`` changed (e.g. epochs, seed) and a
        fresh optimiser at the initial learning rate."""
        self.set_params(**params)
        self.compile()
        return self

    def transfer(self, freeze: str = "conv", **params) -> list[str]:
        """Ready this trained network to learn another data set (transfer learning):
        ``params`` change how it trains (its shape stays); freeze ``conv`` keeps exactly
        the convolutional layers, ``none`` warm-starts every layer. Returns the frozen
        layers' names."""
        self.set_params(**params)
        frozen = []
        if freeze == "conv":
            for layer in conv_layers(self.model):
                layer.trainable = False
                frozen.append(layer.name)
        self.compile()  # a change of trainable layers takes effect at compile
        return frozen

    def clone(self) -> CNN:
        """A copy with its own weights (one source transferred to several data sets)."""
        keras = _keras()
        copy = type(self)(**self.get_params())
        copy.x_mean, copy.x_std, copy.y_mean, copy.y_std = (self.x_mean, self.x_std,
                                                              self.y_mean, self.y_std)
        copy.model = keras.models.clone_model(self.model)
        copy.model.set_weights(self.model.get_weights())
        return copy

    @classmethod
    def create(cls, name: str, target: str, seed: int, **options):
        """A new CNN; it always fits ln(y) (a real target trains the same network)."""
        return cls(seed=seed, **options)

    # --- scaling ---------------------------------------------------------------------
    def fit_scalers(self, X: np.ndarray, y: np.ndarray) -> None:
        """Input scaling per feature of X (points, features); target scaling of ln(y)."""
        self.x_mean = X.mean(axis=0)
        self.x_std = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        ln = np.log(y)
        self.y_mean, self.y_std = float(ln.mean()), float(ln.std() or 1.0)

    def _x(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.x_mean) / self.x_std).astype(np.float32)[..., None]

    def _y(self, y: np.ndarray) -> np.ndarray:
        return ((np.log(y) - self.y_mean) / self.y_std).astype(np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = self.model.predict(self._x(X), batch_size=8192, verbose=0)[:, 0]
        return np.exp(out.astype(float) * self.y_std + self.y_mean)

    # --- training --------------------------------------------------------------------
    def _loss(self):
        if self.loss == "mse":
            return "mse"
        import tensorflow as tf

        scale = self.y_std

        def exp_relative_error(y_true, y_pred):  # |exp(pred) - y| / y
            gap = tf.clip_by_value((y_pred - y_true) * scale, -20.0, 20.0)
            return tf.reduce_mean(tf.abs(tf.exp(gap) - 1.0))

        return exp_relative_error

    def compile(self) -> None:
        keras = _keras()
        optimizer = (keras.optimizers.AdamW(self.learning_rate, weight_decay=self.weight_decay)
                     if self.weight_decay else keras.optimizers.Adam(self.learning_rate))
        self.model.compile(optimizer=optimizer, loss=self._loss())

    def fit(self, X, y, X_val, y_val, keep_scalers: bool = False) -> dict:
        """Train on X (points, features) and y (points,), early stopping on the validation
        split (required). Fitting a trained or loaded model again continues from its
        weights (warm start); ``keep_scalers`` then keeps its input scaling too."""
        keras = _keras()
        keras.utils.set_random_seed(self.seed)
        # keep_scalers keeps the input scaling (what conv layers learned depends on it);
        # the target scaling always follows this data (it may be the objective or a ratio).
        x_mean, x_std = self.x_mean, self.x_std
        self.fit_scalers(X, y)
        if keep_scalers and x_mean is not None:
            self.x_mean, self.x_std = x_mean, x_std
        if self.model is None:
            self.model = build(X.shape[1], **self.architecture)
            self.compile()
        elif not self.model.compiled:  # loaded from a bundle: a fresh optimiser
            self.compile()
        history: dict[str, Any] = {"loss": [], "val_loss": [], "val_mape_pct": []}
        watcher = _watch(self, X_val, y_val, history, self.patience, self.epochs,
                         self.progress)
        start = time.monotonic()
        self.model.fit(self._x(X), self._y(y), validation_data=(self._x(X_val),
                       self._y(y_val)), epochs=self.epochs, batch_size=self.batch_size,
                       shuffle=True, verbose=0, callbacks=[watcher])
        watcher.restore()
        history.update(epochs=len(history["loss"]), best_epoch=watcher.best_epoch,
                       seconds=time.monotonic() - start)
        return history

    # --- persistence -----------------------------------------------------------------
    def save(self, directory: Path) -> dict:
        self.model.save(directory / MODEL_FILE)
        assert self.x_mean is not None and self.x_std is not None  # a network has its scaling
        return {"file": MODEL_FILE, "name": self.name, "target": self.target, "seed": self.seed,
                "x_mean": self.x_mean.tolist(), "x_std": self.x_std.tolist(),
                "y_mean": self.y_mean, "y_std": self.y_std, "loss": self.loss,
                "architecture": self.architecture}

    @classmethod
    def load(cls, directory: Path, state: dict):
        keras = _keras()
        model = cls(seed=state["seed"], loss=state["loss"], **state["architecture"])
        model.model = keras.models.load_model(directory / state["file"], compile=False)
        model.x_mean = np.asarray(state["x_mean"], dtype=np.float32)
        model.x_std = np.asarray(state["x_std"], dtype=np.float32)
        model.y_mean, model.y_std = state["y_mean"], state["y_std"]
        return model


def _watch(owner: CNN, X_val, y_val, history: dict, patience: int, epochs: int,
           progress: bool):
    """A Keras callback: per-epoch validation MAPE on y (not logs), early stopping on it
    with the best weights kept, and a progress bar."""
    keras = _keras()
    from tqdm import tqdm

    x_val = owner._x(X_val)

    Callback: Any = keras.callbacks.Callback  # a base class from the lazily imported Keras

    class Watch(Callback):
        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.best_weights, self.wait = np.inf, 0, None, 0
            self.bar = tqdm(total=epochs, desc="cnn", unit="epoch", disable=not progress,
                            leave=False)

        def on_epoch_end(self, epoch, logs=None):
            out = np.asarray(self.model(x_val, training=False))[:, 0].astype(float)
            val_mape = mape(y_val, np.exp(out * owner.y_std + owner.y_mean))
            history["loss"].append(float(logs["loss"]))
            history["val_loss"].append(float(logs["val_loss"]))
            history["val_mape_pct"].append(val_mape)
            if val_mape < self.best:
                self.best, self.best_epoch, self.wait = val_mape, epoch + 1, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= patience:
                    self.model.stop_training = True
                elif owner.lr_decay and self.wait % max(patience // 4, 1) == 0:
                    # A plateau: halve the learning rate (the paper trains for thousands
                    # of epochs; decaying gets there in hundreds).
                    rate = self.model.optimizer.learning_rate
                    rate.assign(float(rate.numpy()) * 0.5)
            self.bar.update(1)
            self.bar.set_postfix(val_mape=f"{val_mape:.2f}%", best=f"{self.best:.2f}%",
                                 refresh=False)

        def restore(self):
            self.bar.close()
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return Watch()
