//! The control API under /__mock/.
