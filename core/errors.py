"""Errors that mean "the user asked for something wrong", as opposed to bugs.

The CLI prints these as one line without a traceback; everything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class AssayError(Exception):
    """A user-facing error: the message says what went wrong and how to fix it."""


class UnknownNameError(AssayError, KeyError):
    """A name (env id, verifier name, ...) that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def did_you_mean(name: str, known: list[str], what: str) -> UnknownNameError:
    """Build the error for an unknown ``name`` with the closest known names as suggestions."""
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if not close:  # also match on the bare name, e.g. "math" for "assay/math-v0"
        bare = {k.split("/")[-1].rsplit("-v", 1)[0]: k for k in known}
        close = [bare[m] for m in difflib.get_close_matches(name.split("/")[-1], list(bare), n=3, cutoff=0.5)]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listing = ", ".join(sorted(known)) or "(none registered)"
    return UnknownNameError(f"unknown {what} {name!r}.{hint} Known: {listing}")
