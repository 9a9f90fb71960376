//! (blocking face: next)
