"""tensorboard-dvi: DeepVisualInsight as a TensorBoard plugin for PyTorch."""

from setuptools import find_packages, setup

setup(
    name="tensorboard-dvi",
    version="0.1.0",
    description="DeepVisualInsight (DVI) time-travelling visualisation of training, as a TensorBoard plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tensorboard_dvi", "tensorboard_dvi.*"]),
    package_data={"tensorboard_dvi": ["static/*", "static/**/*"]},
    python_requires=">=3.9",
    install_requires=[
        "tensorboard>=2.12",
        "torch>=2.1,<3",
        "numpy>=1.23",
        "protobuf>=3.20",
        "werkzeug>=2.2",
        "pynndescent>=0.5.10",
        # umap-learn: UMAP's fuzzy simplicial set and a,b curve parameters (the engine's
        # complex); also the baseline the benchmark compares against.
        "umap-learn>=0.5.4",
        "tqdm>=4.60",
        # URLs wherever a path goes (fs.py); torch needs it anyway
        "fsspec>=2023.1",
    ],
    extras_require={
        "lightning": ["lightning>=2.0"],
        # remote logdirs and caches (docs/REMOTE.md): fsspec + the backend of your store
        "s3": ["fsspec>=2023.1", "s3fs>=2023.1"],
        "gcs": ["fsspec>=2023.1", "gcsfs>=2023.1"],
        "distributed": ["dask>=2023.1", "distributed>=2023.1"],
        "transformers": ["transformers>=4.30", "accelerate>=0.26"],
        "test": ["pytest>=7", "scikit-learn>=1.1", "playwright>=1.40", "moto[server]>=5", "boto3>=1.28",
                 "s3fs>=2023.1", "dask>=2023.1", "distributed>=2023.1"],
    },
    entry_points={
        "tensorboard_plugins": ["dvi = tensorboard_dvi.plugin.loader:DVILoader"],
        "console_scripts": ["tensorboard-dvi = tensorboard_dvi.cli:main"],
    },
    classifiers=["Framework :: TensorBoard", "Programming Language :: Python :: 3"],
)
