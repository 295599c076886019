"""Neural networks only (nn.Modules): backbones and text encoders."""
