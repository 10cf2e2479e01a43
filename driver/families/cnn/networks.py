"""The networks a CNN study can profile: Keras applications built offline
(``weights=None``, ImageNet's 1,000-class head) and a user's own ``.keras`` files.

Each built-in network has a family (the architecture lineage a leave-one-family-out
evaluation holds out together) and the smallest input side Keras accepts for it. This
module stays light (no Keras import) until a network is built.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

#: name -> (lineage, smallest input side in px). Keras 3.15's ``keras.applications``.
CATALOGUE: dict[str, tuple[str, int]] = {
    **{n: ("mobilenet", 32) for n in ("MobileNet", "MobileNetV2", "MobileNetV3Small",
                                      "MobileNetV3Large")},
    **{f"EfficientNetB{i}": ("efficientnet", 32) for i in range(8)},
    **{f"EfficientNetV2{s}": ("efficientnetv2", 32)
       for s in ("B0", "B1", "B2", "B3", "S", "M", "L")},
    **{n: ("resnet", 32) for n in ("ResNet50", "ResNet101", "ResNet152")},
    **{n: ("resnetv2", 32) for n in ("ResNet50V2", "ResNet101V2", "ResNet152V2")},
    **{n: ("densenet", 32) for n in ("DenseNet121", "DenseNet169", "DenseNet201")},
    "Xception": ("xception", 71),
    "InceptionV3": ("inception", 75), "InceptionResNetV2": ("inception", 75),
    **{f"ConvNeXt{s}": ("convnext", 32) for s in ("Tiny", "Small", "Base", "Large", "XLarge")},
    "NASNetMobile": ("nasnet", 32), "NASNetLarge": ("nasnet", 32),
    "VGG16": ("vgg", 32), "VGG19": ("vgg", 32),
}
USER_LINEAGE = "user"


def lineage(name: str) -> str:
    """The family a network belongs to (``user`` for a user's own file)."""
    return CATALOGUE.get(name, (USER_LINEAGE, 0))[0]


def keras_file_input(path: Path) -> tuple:
    """The input shape ``(height, width, channels)`` (None where free) a ``.keras`` file's
    model takes, read from the archive's config.json without importing Keras."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    layers = config.get("config", {}).get("layers", [])
    for layer in layers:
        if layer.get("class_name") == "InputLayer":
            shape = layer.get("config", {}).get("batch_shape") \
                or layer.get("config", {}).get("batch_input_shape")
            if shape and len(shape) == 4:
                return tuple(shape[1:])
    raise ValueError("no 4-D image InputLayer in its config.json")


def build(name: str, resolution: int, user_models: dict):
    """The Keras model of ``name`` taking ``resolution`` x ``resolution`` x 3 images (or a
    user file's channels). Imports Keras (with whatever backend the process set)."""
    import keras

    if name in user_models:
        model = keras.models.load_model(user_models[name], compile=False)
        channels = model.inputs[0].shape[-1]
        inputs = keras.Input(shape=(resolution, resolution, channels), name="image")
        return keras.Model(inputs, model(inputs))
    constructor = getattr(keras.applications, name)
    return constructor(weights=None, input_shape=(resolution, resolution, 3))
