"""An independent oracle for `dcgan convert`: the authors' forward passes in PyTensor.

Re-written from Newmu/dcgan_code (imagenet/load_pretrained.py's gen/discrim,
svhn/svhn_semisup_analysis.py's D, faces/train_uncond_dcgan.py's 5x5 gen, as the SVHN
training script is not released; lib/ops.py's batchnorm and deconv, lib/activations.py),
on the raw released arrays in their file order, with Theano's semantics: PyTensor's abstract
convolutions keep Theano's (`filter_flip=True` is cuDNN's 'conv' mode, the default of
dnn_conv; the authors' deconv is the gradient of that conv with respect to its input).
Nothing here imports dcgan. The graph is run as written: Python linker, no rewrites.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.tensor.conv.abstract_conv import AbstractConv2d_gradInputs, conv2d

EPS = 1e-8  # lib/ops.py: batchnorm(X, g, b, u=None, s=None, a=1., e=1e-8)
MODE = Mode(linker="py", optimizer=None)


def batchnorm(x, g, b):
    """lib/ops.py's batchnorm with batch statistics: per channel on 4-d, per unit on 2-d."""
    axes = [0, 2, 3] if x.ndim == 4 else [0]
    u = pt.mean(x, axis=axes, keepdims=True)
    s = pt.mean(pt.sqr(x - u), axis=axes, keepdims=True)
    x = (x - u) / pt.sqrt(s + EPS)
    if x.ndim == 4:
        return x * g.dimshuffle("x", 0, "x", "x") + b.dimshuffle("x", 0, "x", "x")
    return x * g + b


def relu(x):
    return (x + abs(x)) / 2.0


def lrelu(x, leak=0.2):
    return 0.5 * (1 + leak) * x + 0.5 * (1 - leak) * abs(x)


def dnn_conv(x, w, stride, pad):
    return conv2d(x, w, border_mode=(pad, pad), subsample=(stride, stride), filter_flip=True)


def deconv(x, w, stride, pad):
    """The authors' deconv: cuDNN's gradient-of-input of a 'conv' with output side * stride."""
    op = AbstractConv2d_gradInputs(
        border_mode=(pad, pad), subsample=(stride, stride), filter_flip=True
    )
    return op(w, x, pt.stack([x.shape[2] * stride, x.shape[3] * stride]))


def gen(z, params, strides, pad):
    """load_pretrained.py's gen: project, per-unit BN, reshape, deconvs with BN, tanh."""
    w, g, b, *rest = params
    h = relu(batchnorm(pt.dot(z, w), g, b))
    h = h.reshape((h.shape[0], w.shape[1] // 16, 4, 4))
    convs = [rest[i : i + 3] for i in range(0, len(rest) - 1, 3)]
    for (wi, gi, bi), s in zip(convs, strides[:-1], strict=True):
        h = relu(batchnorm(deconv(h, wi, s, pad), gi, bi))
    return pt.tanh(deconv(h, rest[-1], strides[-1], pad))


def discrim(x, params, strides, pad):
    """load_pretrained.py's discrim: conv lrelu, convs with BN, flatten, sigmoid(dot)."""
    w, *rest, wy = params
    h = lrelu(dnn_conv(x, w, strides[0], pad))
    feats = [h]
    for i, s in enumerate(strides[1:]):
        wi, gi, bi = rest[3 * i : 3 * i + 3]
        h = lrelu(batchnorm(dnn_conv(h, wi, s, pad), gi, bi))
        feats.append(h)
    logit = pt.dot(pt.flatten(h, 2), wy)
    return [pt.sigmoid(logit).flatten(), logit.flatten(), *feats]


class Oracle:
    """Compiled G and D of one released model: `oracle.g(z)`, `oracle.d(x)` -> numpy."""

    def __init__(
        self, gen_params: list, dis_params: list, strides: tuple, pad: int, dtype="float32"
    ):
        """`strides`: (G's, D's) per conv, as written in the authors' code; `pad`: border_mode."""
        self.dtype = dtype
        # floatX as Theano ran on the GPU: Python scalars in the graph do not upcast.
        with pytensor.config.change_flags(floatX=dtype):
            gp = [pt.constant(np.asarray(a, dtype)) for a in gen_params]
            dp = [pt.constant(np.asarray(a, dtype)) for a in dis_params]
            z, x = pt.matrix("z", dtype=dtype), pt.tensor4("x", dtype=dtype)
            g_strides, d_strides = strides
            self._g = pytensor.function([z], gen(z, gp, g_strides, pad), mode=MODE)
            self._d = pytensor.function([x], discrim(x, dp, d_strides, pad), mode=MODE)

    def g(self, z: np.ndarray) -> np.ndarray:
        return self._g(np.asarray(z, self.dtype))

    def d(self, x: np.ndarray) -> list[np.ndarray]:
        """[sigmoid output, its logit, every conv layer's activations]."""
        return self._d(np.asarray(x, self.dtype))
