"""The K-means baseline of paper Table 1: the single-layer network of Coates, Lee & Ng,
"An Analysis of Single-Layer Networks in Unsupervised Feature Learning" (AISTATS 2011),
whose 1,600-centroid version reaches 79.6% on CIFAR-10 in their paper (80.6% in Table 1).

Their recipe, step by step as in their released kmeans_demo.m:
1. random 6 x 6 patches of the training images (pixels 0..255, all channels);
2. each patch normalised for brightness and contrast: (x - mean) / sqrt(var + 10);
3. ZCA whitening: x -> (x - m) V diag(1 / sqrt(d + 0.1)) V^T, from the patches' covariance;
4. K-means with K centroids (scikit-learn's MiniBatchKMeans here);
5. every 6 x 6 patch of an image (stride 1) through steps 2-3, then the "triangle"
   activation f_k = max(0, mean_j(z_j) - z_k), z_k its distance to centroid k;
6. the activations summed over the 4 quadrants of the image: 4 K features.
Their features are then standardised and go to an L2-SVM: `classify` fits the same
L2-SVM as for every other method, on the same draws, with standardisation on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dcgan.data.packed import PackedDataset
from dcgan.errors import DcganError
from dcgan.experiments.classify.features import shift_images

PATCH = 6
NORM_EPS = 10.0  # brightness/contrast normalisation, for pixels in 0..255 (Coates et al.)
ZCA_EPS = 0.1  # whitening regulariser, on the normalised patches' eigenvalues


def normalize_patches(patches: np.ndarray, eps: float = NORM_EPS) -> np.ndarray:
    """Each row minus its mean, divided by sqrt(its unbiased variance + eps)."""
    patches = np.asarray(patches, np.float64)
    centred = patches - patches.mean(1, keepdims=True)
    return centred / np.sqrt(patches.var(1, ddof=1, keepdims=True) + eps)


def zca_whitener(patches: np.ndarray, eps: float = ZCA_EPS) -> tuple[np.ndarray, np.ndarray]:
    """(mean m, matrix P) of ZCA whitening, x -> (x - m) @ P: P = V diag(1/sqrt(d + eps)) V^T
    from the eigendecomposition V diag(d) V^T of the rows' (unbiased) covariance."""
    patches = np.asarray(patches, np.float64)
    mean = patches.mean(0)
    values, vectors = np.linalg.eigh(np.cov(patches, rowvar=False))
    scale = 1.0 / np.sqrt(np.clip(values, 0.0, None) + eps)
    return mean, (vectors * scale) @ vectors.T


def triangle(distances: torch.Tensor) -> torch.Tensor:
    """The "triangle" activation of rows of distances to the centroids:
    max(0, mean of the row - distance): on for centroids closer than average. Overwrites
    `distances`."""
    mean = distances.mean(1, keepdim=True)
    return distances.neg_().add_(mean).clamp_min_(0.0)  # in place: the rows are large


def pool_quadrants(maps: torch.Tensor) -> torch.Tensor:
    """Activations (N, H, W, K) summed over the image's 4 quadrants -> (N, 4 K): top-left,
    bottom-left, top-right, bottom-right (the middle row/column goes to the first half
    when a side is odd, as MATLAB's round(27 / 2) = 14 splits it)."""
    _, h, w, _ = maps.shape
    r, c = (h + 1) // 2, (w + 1) // 2
    quads = [maps[:, rows, cols].sum((1, 2)) for cols in (slice(0, c), slice(c, w))
             for rows in (slice(0, r), slice(r, h))]  # fmt: skip
    return torch.cat(quads, 1)


def image_patches(images: torch.Tensor, patch: int = PATCH) -> torch.Tensor:
    """Every patch x patch window (stride 1) of uint8 images (N, C, S, S) as rows of
    C * patch^2 pixel values in 0..255: (N * P * P, C * patch^2), P = S - patch + 1."""
    cols = F.unfold(images.float(), patch)  # N x (C * patch^2) x P^2
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


class KMeansFeatures:
    """Coates et al.'s features: `fit` learns the whitening and the centroids from random
    patches of training images; calling it gives float32 features (len(indices), 4 K)."""

    def __init__(
        self,
        k: int = 1600,
        patches: int = 100_000,
        seed: int = 0,
        batch_size: int = 25,
        iterations: int = 10,
    ) -> None:
        if k < 1:
            raise DcganError(f"the K-means baseline needs at least 1 centroid, got {k}")
        if patches < k:
            raise DcganError(f"K-means needs at least K = {k} patches, got {patches}")
        self.k, self.patches, self.seed = k, patches, seed
        self.batch_size, self.iterations = batch_size, iterations
        self.mean: torch.Tensor | None = None
        self.whiten: torch.Tensor | None = None
        self.centroids: torch.Tensor | None = None

    @property
    def dim(self) -> int:
        return 4 * self.k

    def sample_patches(self, dataset: PackedDataset, indices: np.ndarray) -> np.ndarray:
        """`self.patches` random patches: a random image of `indices`, a random position."""
        rng = np.random.default_rng([self.seed, 6])
        side = dataset.size - PATCH + 1
        if side < 1:
            raise DcganError(f"K-means patches are {PATCH} px: the images are {dataset.size} px")
        which = np.sort(rng.choice(np.asarray(indices), self.patches))
        ys, xs = rng.integers(0, side, self.patches), rng.integers(0, side, self.patches)
        out = np.empty((self.patches, dataset.channels * PATCH * PATCH), np.float32)
        for start in range(0, self.patches, 4096):  # bounded memory: 4,096 images at a time
            part = slice(start, start + 4096)
            images = dataset.get_batch(which[part]).numpy()
            crops = [im[:, y : y + PATCH, x : x + PATCH] for im, y, x in
                     zip(images, ys[part], xs[part], strict=True)]  # fmt: skip
            out[part] = np.stack(crops).reshape(len(crops), -1)
        return out

    def fit(self, dataset: PackedDataset, indices: np.ndarray) -> KMeansFeatures:
        """Whitening and centroids from random patches of `dataset`'s images at `indices`."""
        from sklearn.cluster import MiniBatchKMeans

        patches = normalize_patches(self.sample_patches(dataset, indices))
        mean, whiten = zca_whitener(patches)
        white = ((patches - mean) @ whiten).astype(np.float32)
        kmeans = MiniBatchKMeans(
            n_clusters=self.k,
            batch_size=4096,
            max_iter=self.iterations,
            n_init=1,
            random_state=self.seed,
        ).fit(white)
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.whiten = torch.as_tensor(whiten, dtype=torch.float32)
        self.centroids = torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32)
        return self

    @torch.inference_mode()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled triangle activations (N, 4 K) of uint8 images (N, C, S, S)."""
        if self.centroids is None or self.mean is None or self.whiten is None:
            raise DcganError("the K-means features are not fitted: call fit first")
        n, side = len(images), images.shape[-1] - PATCH + 1
        x = image_patches(images)
        x = (x - x.mean(1, keepdim=True)) / (x.var(1, keepdim=True) + NORM_EPS).sqrt()
        x = (x - self.mean) @ self.whiten
        c = self.centroids
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, in place: the (N P^2) x K matrix is the big one
        squared = torch.addmm((c * c).sum(1), x, c.T, alpha=-2.0)
        f = triangle(squared.add_((x * x).sum(1, keepdim=True)).clamp_min_(0.0).sqrt_())
        return pool_quadrants(f.reshape(n, side, side, self.k))

    def __call__(
        self, dataset: PackedDataset, indices: np.ndarray, shift: tuple[int, int] = (0, 0)
    ) -> np.ndarray:
        """float32 features (len(indices), 4 K) of `dataset`'s images at `indices`, moved by
        `shift` pixels, computed `batch_size` images at a time (bounded memory)."""
        indices = np.asarray(indices, np.int64)
        out = np.empty((len(indices), self.dim), np.float32)
        for start in range(0, len(indices), self.batch_size):
            part = slice(start, start + self.batch_size)
            images = shift_images(dataset.get_batch(indices[part]), *shift)
            out[part] = self.features(images).numpy()
        return out
