"""Networks of the nodule re-identification method (Jiang et al. 2023, II.A).

Extractor: the R(2+1)D-18 backbone (Tran et al. 2018) as torchvision builds
it (torchvision.models.video.r2plus1d_18), with the same module names, so a
state_dict moves between the two; the final fully connected layer is not
part of the extractor. A compact variant keeps the block structure with
widths 16/32/64/128 for tests and small machines. Both take clips
N x C x T x H x W (the clip builder's layout) of any size; the input size
is a property of the model package, not of the network.

Models:
  ClassificationModel (CM): extractor -> embedding -> FC over the training
      identities. The FC is used for the cross-entropy loss only and is
      dropped at export; embeddings are compared by cosine similarity.
  VerificationModel (VM): two weight-sharing extractors (one module applied
      to both clips) -> concat -> FC-BN-ReLU -> FC-BN-ReLU -> FC(2), the
      two logits being (different, same).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv2Plus1D(nn.Sequential):
    """A 3x3x3 convolution factored into 1x3x3 (space) then 3x1x1 (time)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int,
                 stride: int = 1, padding: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_planes, midplanes, kernel_size=(1, 3, 3),
                      stride=(1, stride, stride), padding=(0, padding, padding),
                      bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(midplanes, out_planes, kernel_size=(3, 1, 1),
                      stride=(stride, 1, 1), padding=(padding, 0, 0),
                      bias=False),
        )


class BasicBlock(nn.Module):
    """Residual block of two (2+1)D convolutions (torchvision's layout)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        # Mid-plane count that matches the parameters of a full 3x3x3 conv.
        midplanes = (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)
        self.conv1 = nn.Sequential(Conv2Plus1D(inplanes, planes, midplanes, stride),
                                   nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(Conv2Plus1D(planes, planes, midplanes),
                                   nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.conv1(x)
        out = self.conv2(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out = out + residual
        return self.relu(out)


class R2Plus1dStem(nn.Sequential):
    """Factored 1x7x7 (stride 2 in space) then 3x1x1 stem."""

    def __init__(self, in_channels: int = 3, mid: int = 45, out: int = 64) -> None:
        super().__init__(
            nn.Conv3d(in_channels, mid, kernel_size=(1, 7, 7), stride=(1, 2, 2),
                      padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, out, kernel_size=(3, 1, 1), stride=(1, 1, 1),
                      padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(out),
            nn.ReLU(inplace=True),
        )


class R2Plus1dExtractor(nn.Module):
    """The R(2+1)D backbone up to global average pooling: clips -> N x widths[-1]."""

    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512),
                 layers: Sequence[int] = (2, 2, 2, 2), in_channels: int = 3,
                 stem_mid: int = 45) -> None:
        super().__init__()
        if len(widths) != 4 or len(layers) != 4:
            raise ValueError("R2Plus1dExtractor: 4 widths and 4 layer counts")
        self.stem = R2Plus1dStem(in_channels, stem_mid, widths[0])
        self.inplanes = widths[0]
        self.layer1 = self._make_layer(widths[0], layers[0], 1)
        self.layer2 = self._make_layer(widths[1], layers[1], 2)
        self.layer3 = self._make_layer(widths[2], layers[2], 2)
        self.layer4 = self._make_layer(widths[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.out_dim = widths[3]
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes, kernel_size=1,
                          stride=(stride, stride, stride), bias=False),
                nn.BatchNorm3d(planes))
        out = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            out.append(BasicBlock(planes, planes))
        return nn.Sequential(*out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.avgpool(x).flatten(1)


def r2plus1d_18(in_channels: int = 3) -> R2Plus1dExtractor:
    """R(2+1)D-18: widths 64/128/256/512, 2 blocks per stage (31.3 M
    parameters without torchvision's 400-class FC)."""
    return R2Plus1dExtractor((64, 128, 256, 512), (2, 2, 2, 2), in_channels, 45)


def r2plus1d_compact(in_channels: int = 3) -> R2Plus1dExtractor:
    """The same structure at a quarter of the width (16/32/64/128)."""
    return R2Plus1dExtractor((16, 32, 64, 128), (2, 2, 2, 2), in_channels, 11)


ARCHS = {"r2plus1d_18": r2plus1d_18, "r2plus1d_compact": r2plus1d_compact}
ARCH_ALIASES = {"r18": "r2plus1d_18", "compact": "r2plus1d_compact"}


def make_extractor(arch: str, in_channels: int = 3) -> R2Plus1dExtractor:
    arch = ARCH_ALIASES.get(arch, arch)
    if arch not in ARCHS:
        raise ValueError("unknown arch %r (known: %s)" % (arch, ", ".join(sorted(ARCHS))))
    return ARCHS[arch](in_channels)


class Embedder(nn.Module):
    """Extractor, optional linear projection to embed_dim, optional L2 norm."""

    def __init__(self, extractor: nn.Module, feat_dim: int,
                 embed_dim: Optional[int] = None, normalize: bool = True) -> None:
        super().__init__()
        self.extractor = extractor
        self.proj = nn.Linear(feat_dim, embed_dim) if embed_dim else nn.Identity()
        self.dim = embed_dim if embed_dim else feat_dim
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.proj(self.extractor(x))
        if self.normalize:
            f = F.normalize(f, p=2.0, dim=1, eps=1e-12)
        return f


class ClassificationModel(nn.Module):
    """CM: embeddings for comparison (cosine), FC over identities for training."""

    def __init__(self, extractor: R2Plus1dExtractor, n_ids: int,
                 embed_dim: Optional[int] = None, normalize: bool = True) -> None:
        super().__init__()
        self.embedder = Embedder(extractor, extractor.out_dim, embed_dim, normalize)
        self.fc = nn.Linear(self.embedder.dim, n_ids)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Training: (identity logits, embeddings)."""
        f = self.embedder(x)
        return self.fc(f), f

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedder(x)


GEOMETRY_FEATURES = ("depth", "height", "width")


def clip_geometry(x: torch.Tensor, channel: int) -> torch.Tensor:
    """The box geometry that clips with coordinate channels (nid_coords
    NID_COORDS_FRAME) carry, N x 3: depth = mean of the Y channel (2 y /
    frame height - 1, the crop centre's depth), and the logs of the Y and X
    channels' spans (2 x the crop's height and width in frame heights), mean
    over the clip's frames. Resizing to a fixed clip size throws the nodule's
    size away; these channels keep it."""
    Y, X = x[:, channel], x[:, channel + 1]
    h, w = Y.shape[-2], X.shape[-1]
    # a pixel step is span / n: the full span is (last - first) * n / (n - 1)
    # (abs: a mirrored clip, as in flip augmentation, runs X backwards)
    dy = (Y[:, :, -1, 0] - Y[:, :, 0, 0]).abs() * (h / max(h - 1, 1))
    dx = (X[:, :, 0, -1] - X[:, :, 0, 0]).abs() * (w / max(w - 1, 1))
    eps = 1e-6
    return torch.stack([Y.mean(dim=(1, 2, 3)),
                        torch.log(dy.clamp_min(eps)).mean(1),
                        torch.log(dx.clamp_min(eps)).mean(1)], 1)


class GeometryEmbedder(nn.Module):
    """An embedder whose output also carries the nodule's box geometry.

    The output is [sqrt(1 - sum w) e, sqrt(w_j) phi_j(g_j) ...] with e the
    (unit) embedding of `inner`, g = clip_geometry(x) restricted to the
    chosen features, and phi_j(g) = [cos(omega_k g), sin(omega_k g)]_k /
    sqrt(terms), omega_k the normal quantiles (k + 1/2) / terms scaled by
    1 / sigma_j. So the output has unit norm and cos(out_a, out_b) =
    (1 - sum w) cos(e_a, e_b) + sum_j w_j k_j(g_a - g_b), with k_j ~
    exp(-(g_a - g_b)^2 / (2 sigma_j^2)): a calibrated mix of appearance and
    geometry that plain cosine comparison, clustering and galleries use
    unchanged. kernels: [(feature, sigma, weight), ...]."""

    def __init__(self, inner: nn.Module, channel: int,
                 kernels: Sequence[Tuple[str, float, float]], terms: int = 16) -> None:
        super().__init__()
        total = sum(k[2] for k in kernels)
        if not kernels or total > 1.0 or any(
                f not in GEOMETRY_FEATURES or not s > 0 or not w > 0
                for f, s, w in kernels):
            raise ValueError("GeometryEmbedder: need features in %s, sigma > 0, "
                             "weights > 0 summing to <= 1, got %r"
                             % (GEOMETRY_FEATURES, kernels))
        self.inner = inner
        self.channel = channel
        self.kernels = [(str(f), float(s), float(w)) for f, s, w in kernels]
        self.terms = terms
        q = (torch.arange(terms, dtype=torch.float64) + 0.5) / terms
        z = torch.erfinv(2.0 * q - 1.0) * (2.0 ** 0.5)
        self.register_buffer("omega", torch.stack(
            [z / s for _, s, _ in self.kernels]).float())  # K x terms
        self.register_buffer("scale", torch.tensor(
            [w ** 0.5 for _, _, w in self.kernels]).float())
        self.index = [GEOMETRY_FEATURES.index(f) for f, _, _ in self.kernels]
        self.w_inner = (1.0 - total) ** 0.5
        self.dim = inner.dim + 2 * terms * len(self.kernels)
        self.normalize = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = F.normalize(self.inner(x), p=2.0, dim=1, eps=1e-12)
        g = clip_geometry(x, self.channel)[:, self.index]  # N x K
        a = g[:, :, None] * self.omega[None]  # N x K x terms
        phi = torch.cat([torch.cos(a), torch.sin(a)], 2) / (self.terms ** 0.5)
        phi = phi * self.scale[None, :, None]
        return torch.cat([self.w_inner * e, phi.flatten(1)], 1)


def DepthEmbedder(inner: nn.Module, channel: int, sigma: float, weight: float,
                  terms: int = 16) -> GeometryEmbedder:
    """The depth-only GeometryEmbedder (the first version's name)."""
    return GeometryEmbedder(inner, channel, [("depth", sigma, weight)], terms)


HEAD_FEATURES = ("concat", "concat-diff")


def pair_features(a: torch.Tensor, b: torch.Tensor, diff: bool) -> torch.Tensor:
    """The head's input: concat(a, b) (the paper), or with diff=True
    concat(a, b, |a - b|, a * b), which hands the head the comparison
    features an MLP on concat(a, b) must otherwise discover."""
    if diff:
        return torch.cat([a, b, (a - b).abs(), a * b], 1)
    return torch.cat([a, b], 1)


class VerificationHead(nn.Sequential):
    """pair_features(a, b) -> FC-BN-ReLU -> FC-BN-ReLU -> FC(2) (logits:
    different, same). features "concat" is the paper's head."""

    def __init__(self, dim: int, hidden: Sequence[int] = (),
                 features: str = "concat") -> None:
        if features not in HEAD_FEATURES:
            raise ValueError("head features must be one of %s, got %r"
                             % (HEAD_FEATURES, features))
        h1, h2 = hidden if hidden else (dim, max(dim // 4, 2))
        n_in = (4 if features == "concat-diff" else 2) * dim
        super().__init__(
            nn.Linear(n_in, h1), nn.BatchNorm1d(h1), nn.ReLU(inplace=True),
            nn.Linear(h1, h2), nn.BatchNorm1d(h2), nn.ReLU(inplace=True),
            nn.Linear(h2, 2))
        # Small final weights (as torchvision's classifier init): an untrained
        # head answers close to 0.5 instead of a saturated 0 or 1.
        nn.init.normal_(self[-1].weight, 0.0, 0.01)
        nn.init.constant_(self[-1].bias, 0.0)
        self.diff = features == "concat-diff"
        self.features = features


class VerificationModel(nn.Module):
    """VM: one extractor applied to both clips (shared weights) and a head.

    Embeddings are not normalised by default: the contrastive loss of the
    paper (eq. 9) works on the Euclidean distance of raw features."""

    def __init__(self, extractor: R2Plus1dExtractor, embed_dim: Optional[int] = None,
                 normalize: bool = False, hidden: Sequence[int] = (),
                 head_features: str = "concat") -> None:
        super().__init__()
        self.embedder = Embedder(extractor, extractor.out_dim, embed_dim, normalize)
        self.head = VerificationHead(self.embedder.dim, hidden, head_features)

    def forward(self, a: torch.Tensor, b: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training: (pair logits N x 2, embeddings of a, embeddings of b)."""
        fa = self.embedder(a)
        fb = self.embedder(b)
        return self.head(pair_features(fa, fb, self.head.diff)), fa, fb

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedder(x)

    def verify_logits(self, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        return self.head(pair_features(fa, fb, self.head.diff))


# ---------------------------------------------------------------------------
# Inference modules written into model packages (TorchScript).
# ---------------------------------------------------------------------------

class EmbedExport(nn.Module):
    """forward(clips N x C x T x H x W float32) -> embeddings N x D.

    The clip shape is fixed by the package's metadata and checked here, so a
    package whose metadata disagrees with its network fails at load time
    (nid_model_load runs forward once on a zero clip of the metadata shape).
    """

    def __init__(self, embedder: Embedder, channels: int, frames: int,
                 height: int, width: int) -> None:
        super().__init__()
        self.embedder = embedder
        self.channels = channels
        self.frames = frames
        self.height = height
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dim() != 5 or x.size(1) != self.channels or x.size(2) != self.frames
                or x.size(3) != self.height or x.size(4) != self.width):
            raise RuntimeError(
                "noduleid: forward expects clips N x {} x {} x {} x {} (N x C x T x H x W), "
                "got {}".format(self.channels, self.frames, self.height, self.width,
                                x.shape))
        if x.dtype != torch.float32:
            raise RuntimeError("noduleid: forward expects float32 clips")
        return self.embedder(x)


class VerifyExport(EmbedExport):
    """EmbedExport plus verify(a N x D, b N x D) -> probability same, N."""

    def __init__(self, embedder: Embedder, head: VerificationHead, channels: int,
                 frames: int, height: int, width: int) -> None:
        super().__init__(embedder, channels, frames, height, width)
        self.head = head
        self.dim = embedder.dim
        self.diff = head.diff

    @torch.jit.export
    def verify(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if (a.dim() != 2 or b.dim() != 2 or a.size(1) != self.dim
                or b.size(1) != self.dim or a.size(0) != b.size(0)):
            raise RuntimeError(
                "noduleid: verify expects two N x {} embeddings, got {} and {}".format(
                    self.dim, a.shape, b.shape))
        logits = self.head(pair_features(a, b, self.diff))
        return torch.softmax(logits, dim=1)[:, 1]


def count_flops(extractor: nn.Module, shape: Sequence[int]) -> int:
    """Floating-point operations of one forward pass on a clip of `shape`
    (C, T, H, W): 2 per multiply-add of every convolution and linear layer
    (batch norm, ReLU and pooling are not counted, as is customary)."""
    total: List[int] = [0]

    def conv_hook(m, inp, out):
        k = 1
        for s in m.kernel_size:
            k *= s
        total[0] += 2 * out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m, inp, out):
        total[0] += 2 * out.numel() * m.in_features

    hooks = []
    for m in extractor.modules():
        if isinstance(m, nn.Conv3d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = extractor.training
    extractor.eval()
    with torch.no_grad():
        extractor(torch.zeros((1,) + tuple(shape)))
    extractor.train(was_training)
    for h in hooks:
        h.remove()
    return total[0]
