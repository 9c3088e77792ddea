"""Unlearning methods. One module per method; importing it registers it (file name = registry key = CLI name)."""

from obliviate.methods.base import METHODS, Method, RetainTerm, register_method

__all__ = ["METHODS", "Method", "RetainTerm", "register_method"]
