//! The frontend-svc service: filled in by issue #3 (see DESIGN.md §2).
