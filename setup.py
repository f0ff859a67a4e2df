"""feedrank: multi-task home-feed ranking with calibrated, utility-based scores.

Exact, tested versions of every dependency live in requirements.lock; the ranges here are
the ones the package is known to work with.
"""
import re

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', open("transform/version.py").read()).group(1)

setup(
    name="feedrank",
    version=VERSION,
    description="Multi-task home-feed ranking with calibrated utilities: tf.Transform, Keras, TF Serving",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=[f"{room}{suffix}" for room in ("transform", "trainer", "serving", "pipeline")
                                    for suffix in ("", ".*")]),
    package_data={"transform": ["specs/*.yaml"], "trainer.tuning": ["search_spaces/*.yaml"], "serving": ["config/*"]},
    install_requires=[
        "tensorflow==2.21.0",
        "tf-keras==2.21.0",
        "tensorflow-transform==1.21.0",
        "tfx-bsl==1.21.0",
        "tensorflow-recommenders==0.7.7",
        "tensorflow-serving-api>=2.19,<2.20",
        "apache-beam>=2.53,<3",
        "keras-tuner==1.4.8",
        "tensorboard==2.21.0",
        "scikit-learn>=1.5",
        "scipy>=1.11",
        "tensorflow-model-analysis==0.52.0",
        "matplotlib>=3.8",
        "pyyaml>=6",
        "tqdm>=4.60",
    ],
    extras_require={"test": ["pytest>=8", "nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6", "hypothesis>=6"]},
    entry_points={"console_scripts": ["feedrank=pipeline.cli:main"]},
)
