"""Model meets movie: the particle simulated on a movie's own pixels, seen through the
microscope, compared with the measured lithium maps, and the physics fitted (Xu, Merryweather
et al., Joule 2022: D(θ) from GITT scaled by α until the simulation matches the movie); and sweeps of
the particle model over a Dask cluster into a resumable Zarr store."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "compare_movie": "compare", "blur_inside": "compare", "psf_sigma": "compare",
    "law_basis": "compare", "MovieProblem": "compare", "refine_outline": "outline",
    "estimate_psf": "optics", "movie_protocol": "protocol", "piecewise_steps": "protocol",
    "fit_alpha": "fit", "fit_diffusivity": "fit", "correlation_area": "fit", "correlation_time": "fit",
    "distributed_sweep": "distributed", "sweep_cases": "distributed", "fit_particles": "particles",
    "fit_movies": "particles",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
