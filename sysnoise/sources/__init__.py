"""Model sources: torchvision, EfficientNet-Lite, timm, model files and in-memory modules."""
