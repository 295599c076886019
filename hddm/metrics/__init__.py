"""Sample-quality metrics; stand-ins for the real-scale metrics are named as such in every output."""
