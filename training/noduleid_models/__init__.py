"""Model definitions and the model-package exporter of libnoduleid.

models.py  the R(2+1)D extractors, the classification model (CM) and the
           verification model (VM) of Jiang et al. 2023 (section II.A);
export.py  writes a model package (docs/model-package.md) that the C
           library loads with nid_model_load().
"""

PACKAGE_FORMAT = "noduleid-model"
PACKAGE_FORMAT_VERSION = 1
METADATA_NAME = "noduleid.json"
