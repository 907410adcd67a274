"""Losses of Jiang et al. 2023, II.B."""
import torch
import torch.nn.functional as F


def pairwise_euclidean(x: torch.Tensor) -> torch.Tensor:
    """N x N Euclidean distances (gradient-safe at 0)."""
    sq = (x * x).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.t())
    return torch.sqrt(d2.clamp_min(1e-12))


def batch_hard_triplet(emb: torch.Tensor, labels: torch.Tensor, margin: float,
                       reduction: str = "mean") -> torch.Tensor:
    """Eq. 4 (TriHard): for each anchor the hardest positive (largest
    distance, same label, the anchor itself excluded unless it is its own
    only positive) and the hardest negative (smallest distance, other label);
    max(0, m + d_ap - d_an). The paper sums over the P x K anchors; we
    average by default so the margin's weight does not grow with the batch
    (reduction="sum" gives eq. 4 as printed)."""
    d = pairwise_euclidean(emb)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    pos_mask = same & ~eye
    # a nodule drawn K times from one tracklet has duplicates at distance 0
    d_pos = torch.where(pos_mask, d, torch.zeros_like(d)).max(1).values
    big = d.max().detach() + 1.0
    d_neg = torch.where(~same, d, big.expand_as(d)).min(1).values
    has_neg = (~same).any(1)
    loss = F.relu(margin + d_pos - d_neg)[has_neg]
    if loss.numel() == 0:
        return emb.sum() * 0.0
    return loss.sum() if reduction == "sum" else loss.mean()


def supcon(emb: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out) on the cosine of
    L2-normalised embeddings: for every anchor, each other clip of its label
    against all other clips of the batch, -log softmax over the batch at
    `temperature`, averaged over the positives and then the anchors. Unlike
    the batch-hard triplet (one positive and one negative per anchor), every
    pair of the batch gives a gradient; with whole-patient batches most
    negatives are the patient's other nodules. Anchors without a positive are
    skipped."""
    z = F.normalize(emb, p=2.0, dim=1, eps=1e-12)
    n = len(labels)
    eye = torch.eye(n, dtype=torch.bool, device=emb.device)
    logits = (z @ z.t()) / temperature
    logits = logits.masked_fill(eye, float("-inf"))
    logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    npos = pos.sum(1)
    ok = npos > 0
    if not bool(ok.any()):
        return emb.sum() * 0.0
    per = torch.where(pos, logp, torch.zeros_like(logp)).sum(1)[ok] / npos[ok]
    return -per.mean()


def contrastive(fa: torch.Tensor, fb: torch.Tensor, same: torch.Tensor,
                margin: float, form: str = "paper", normalize: bool = False) -> torch.Tensor:
    """Contrastive loss on d = ||fa - fb||_2, averaged as 1/(2N) sum[...].

    form="paper": eq. 9 as printed, y d^2 + (1 - y) max(0, m - d).
    form="hadsell": Hadsell et al. 2006, y d^2 + (1 - y) max(0, m - d)^2.
    normalize=True measures d between L2-normalised embeddings (d in [0, 2]).

    Measured on the phantom (training/README.md): with raw embeddings and
    the unsquared hinge the embeddings collapse (every d near the point where
    the two gradients cancel) and the VM does not learn; the squared hinge on
    normalised embeddings does not collapse."""
    if normalize:
        fa = F.normalize(fa, p=2.0, dim=1, eps=1e-12)
        fb = F.normalize(fb, p=2.0, dim=1, eps=1e-12)
    d = torch.sqrt(((fa - fb) ** 2).sum(1).clamp_min(1e-12))
    y = same.float()
    hinge = F.relu(margin - d)
    if form == "hadsell":
        hinge = hinge * hinge
    elif form != "paper":
        raise ValueError("contrastive: form must be 'paper' or 'hadsell', got %r" % form)
    return (y * d * d + (1 - y) * hinge).sum() / (2.0 * len(y))
