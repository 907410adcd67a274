"""Fixtures of the cli_group tests: the synthetic exam (written once per
test module) and the PyTorch reference embeddings of its tracklets."""
import pytest

from nidcli import make_exam, pkg, reference_embeddings


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    d = tmp_path_factory.mktemp("syn")
    exam, vids = make_exam(d)
    return d, exam, vids


@pytest.fixture(scope="module")
def cm_ref(syn):
    d, exam, vids = syn
    return reference_embeddings(pkg("cm.nidm"), vids)
