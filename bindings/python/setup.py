"""Build script of the noduleid Python package (cffi, API mode).

Offline install into Debian's Python (python3-cffi, python3-numpy and
python3-setuptools from Debian, no PyPI):

    PKG_CONFIG_PATH=<prefix>/lib/pkgconfig \
        pip install --no-build-isolation --no-index bindings/python
"""
import subprocess

from setuptools import setup


def _version():
    try:
        return subprocess.run(["pkg-config", "--modversion", "noduleid"],
                              check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "0.0.0"


setup(
    name="noduleid",
    version=_version(),
    description="Python binding of libnoduleid (ultrasound nodule "
                "re-identification across video clips)",
    license="see LICENSE of libnoduleid",
    packages=["noduleid"],
    package_data={"noduleid": ["py.typed"]},
    python_requires=">=3.9",
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "numpy"],
    cffi_modules=["noduleid/_build.py:ffibuilder"],
    zip_safe=False,
)
