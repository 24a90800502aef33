"""Render a shot on a studio farm: its plan exported as an Open Job Description job bundle (`impasto farm export`).

Only what is the farm's lives here (`openjd`: the template, its checks, the bundle); each task is an ordinary
`impasto render SHOT --frames A-B`, so the plan, the frame loop, the locks and the manifest are the shot layer's.
"""

from impasto.farm.openjd import FarmJob, build_job, check_template, impasto_executable, parameter_values, write_bundle

__all__ = ["FarmJob", "build_job", "check_template", "impasto_executable", "parameter_values", "write_bundle"]
