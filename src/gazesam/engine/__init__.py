"""SAM-family segmentation engine: models, checkpoints, runtimes (ONNX Runtime / PyTorch), embedding cache."""
