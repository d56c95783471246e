"""isspanel: a live ISS location pipeline workbench (Kafka, Flink, Panel)."""

__version__ = "0.1.0"
