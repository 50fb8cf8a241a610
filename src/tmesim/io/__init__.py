"""Reading and writing run outputs."""

from tmesim.io.outputs import default_run_dir, write_run

__all__ = ["default_run_dir", "write_run"]
