"""Python side of libnoduleid: model definitions, export and (issue 7) training.

Run modules with the Debian Python that has torch, from the repository root:
    /usr/bin/python3 -m training.noduleid_models.export --help
"""
