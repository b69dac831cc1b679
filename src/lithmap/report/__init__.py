"""Figures and reports."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {"plot_simulation": "plots", "write_movie": "movie", "plot_map": "maps", "plot_shells": "maps",
           "plot_fit": "fit_figures", "plot_clusters": "cluster_figures", "plot_volume": "volume_figures",
           "plot_stress": "stress_figures", "plot_particle_fits": "field_figures",
           "build_report": "html", "report_kind": "html", "run_demo": "demo", "view_result": "viewer",
           "result_layers": "viewer"}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
