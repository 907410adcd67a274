"""Evaluation of libnoduleid on a dataset: the method's tables and figures
(Jiang et al. 2023, Table 3 / Fig. 5 and Table 4 / Fig. 6) reproduced
through the C library. Run `/usr/bin/python3 -m evaluation reid|cluster`
from the repository root (evaluation/README.md)."""
