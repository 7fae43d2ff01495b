"""Problems: each supplies named losses to the trainer (:mod:`pdelearn.train`).

- :mod:`pdelearn.problems.forward`: physics-informed forward problem (PINN) whose residual comes
  from the term library;
- :mod:`pdelearn.problems.conditions`: safe parsing of the equation and condition strings;
- :mod:`pdelearn.problems.reference`: reference solutions (spectral, finite differences, file);
- :mod:`pdelearn.problems.joint`: joint discovery (a network and its sparse equation learned together
  from scattered, noisy samples), with its recipe schema in :mod:`pdelearn.problems.joint_recipe`.

Submodules are imported on use, so that parsing a recipe does not import torch.
"""
