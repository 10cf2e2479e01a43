"""The layer table: ResNet-50's 24 computationally distinct layers as loop bounds.

A layer is a 7-deep loop nest over R, S (filter width, height), P, Q (output width,
height), C (input channels), K (output channels) and N (batch), with a stride on P and Q.
Shapes are ResNet-50 v1.5 at 224x224 input, batch 1 (He et al. 2016, torchvision's
stride-on-3x3 variant): conv1, the distinct 1x1 and 3x3 convolutions of the four stages
(the first block of stages 3-5 has its own stride-2 3x3 and stride-2 projection shortcut),
and the fully connected classifier as a 1x1 "convolution" over a 1x1 image. Padding is not
modelled (the input tile is (P - 1) * stride + R wide, as in Timeloop's projection).
"""
from __future__ import annotations

from dataclasses import dataclass

DIMS = ("R", "S", "P", "Q", "C", "K", "N")


@dataclass(frozen=True)
class Layer:
    name: str
    R: int
    S: int
    P: int
    Q: int
    C: int
    K: int
    N: int = 1
    stride: int = 1
    kind: str = "conv"  # conv | fc

    def bounds(self) -> tuple[int, ...]:
        """Loop bounds in :data:`DIMS` order."""
        return tuple(getattr(self, d) for d in DIMS)

    @property
    def macs(self) -> int:
        out = 1
        for b in self.bounds():
            out *= b
        return out


def _conv(name, rs, pq, c, k, stride=1):
    return Layer(name, rs, rs, pq, pq, c, k, 1, stride)


RESNET50 = {layer.name: layer for layer in (
    _conv("conv1", 7, 112, 3, 64, 2),
    _conv("res2_1x1_64_64", 1, 56, 64, 64),
    _conv("res2_3x3_64", 3, 56, 64, 64),
    _conv("res2_1x1_64_256", 1, 56, 64, 256),
    _conv("res2_1x1_256_64", 1, 56, 256, 64),
    _conv("res3_1x1_256_128", 1, 56, 256, 128),
    _conv("res3_3x3_128_s2", 3, 28, 128, 128, 2),
    _conv("res3_3x3_128", 3, 28, 128, 128),
    _conv("res3_1x1_128_512", 1, 28, 128, 512),
    _conv("res3_proj_256_512_s2", 1, 28, 256, 512, 2),
    _conv("res3_1x1_512_128", 1, 28, 512, 128),
    _conv("res4_1x1_512_256", 1, 28, 512, 256),
    _conv("res4_3x3_256_s2", 3, 14, 256, 256, 2),
    _conv("res4_3x3_256", 3, 14, 256, 256),
    _conv("res4_1x1_256_1024", 1, 14, 256, 1024),
    _conv("res4_proj_512_1024_s2", 1, 14, 512, 1024, 2),
    _conv("res4_1x1_1024_256", 1, 14, 1024, 256),
    _conv("res5_1x1_1024_512", 1, 14, 1024, 512),
    _conv("res5_3x3_512_s2", 3, 7, 512, 512, 2),
    _conv("res5_3x3_512", 3, 7, 512, 512),
    _conv("res5_1x1_512_2048", 1, 7, 512, 2048),
    _conv("res5_proj_1024_2048_s2", 1, 7, 1024, 2048, 2),
    _conv("res5_1x1_2048_512", 1, 7, 2048, 512),
    Layer("fc1000", 1, 1, 1, 1, 2048, 1000, kind="fc"),
)}


def layer(name: str) -> Layer:
    return RESNET50[name]
