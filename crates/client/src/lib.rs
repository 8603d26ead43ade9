//! Typed client of the public API and the `pygmy` CLI: filled in by issue #3.
