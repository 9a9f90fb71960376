//! The error every wire parser returns.

/// Why bytes could not be taken as a given format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the format's header or its declared length needs.
    #[error("truncated")]
    Truncated,
    /// A field holds a value the format forbids (bad version, IHL < 5, ...).
    #[error("malformed")]
    Malformed,
    /// The checksum does not verify.
    #[error("bad checksum")]
    Checksum,
    /// Well-formed, but a variant this engine does not handle.
    #[error("unsupported")]
    Unsupported,
}

pub type Result<T> = core::result::Result<T, Error>;
