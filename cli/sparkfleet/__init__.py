"""sparkfleet: provision NVIDIA DGX Spark machines for local AI serving."""

__version__ = "0.1.0"
