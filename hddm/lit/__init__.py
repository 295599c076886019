"""Lightning at the edge: LightningModules, DataModules and callbacks wrapping the pure parts."""
