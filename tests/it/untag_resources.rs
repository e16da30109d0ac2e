//! Tests for the action; filled by its implementer.
