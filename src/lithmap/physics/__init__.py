"""Particle physics: materials, geometry, protocols and the diffusion engine."""
