"""Pure diffusion math: schedules, objectives, conversion to velocity, ODE solvers. No Lightning, no Hydra."""
