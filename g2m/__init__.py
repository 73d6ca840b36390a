"""g2m: distill GNNs into graph-free MLPs and graph datasets into tiny distilled datasets."""

from g2m.datasets import load_dataset, list_datasets
from g2m.errors import ConfigError, DatasetError, G2MError

__version__ = "0.1.0"

__all__ = ["load_dataset", "list_datasets", "G2MError", "ConfigError", "DatasetError", "__version__"]
