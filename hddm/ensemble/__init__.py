"""The ensemble at sampling time: its members loaded from bundles, each expert's guided velocity, the routed field
that combines them, and the one sampling loop every command draws through."""
