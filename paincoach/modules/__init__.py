"""Scripted self-management modules and programmes: the schema, the loader, the preview.

The module content itself lives in the top-level `modules/` folder, written by clinicians.
"""

from paincoach.modules.catalogue import Catalogue, Problem, load
from paincoach.modules.schema import Module, Programme

__all__ = ["Catalogue", "Module", "Problem", "Programme", "load"]
