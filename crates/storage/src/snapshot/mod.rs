//! Snapshots: a point-in-time image of the state trees, kept in a file and streamed, never held
//! whole in memory (a replica's memory must not grow with its store).
//!
//! - `image`: the encoding, written and read as a stream ([`StateImage`] for the in-memory form
//!   offline inspection and tests use);
//! - `files`: the images on disk, written whole before they are named;
//! - `builder`: a snapshot of this replica's state;
//! - `install`: the state replaced by a received image, in batches, crash-safe;
//! - `chunk`: a chunk of an image on the wire, its bytes as they are.

mod builder;
mod chunk;
mod files;
mod image;
mod install;

pub use builder::SnapshotBuilder;
pub(crate) use chunk::{decode_chunk, encode_chunk, CHUNK_CONTENT_TYPE};
pub(crate) use files::SnapshotFiles;
pub use files::SNAPSHOTS_DIR;
pub(crate) use image::{read_image, ImageItem};
pub use image::{StateImage, TreeImage};
pub(crate) use install::{check_image, install, recover, Installing};

/// sm_meta key of the current snapshot's metadata.
pub(crate) const SNAPSHOT_META: &[u8] = b"snapshot_meta";
/// sm_meta key of the current snapshot's image file name, in [`SNAPSHOTS_DIR`].
pub(crate) const SNAPSHOT_FILE: &[u8] = b"snapshot_file";
/// sm_meta key where versions before #13 kept the image bytes themselves; moved to a file at
/// start ([`recover`]).
pub(crate) const SNAPSHOT_DATA: &[u8] = b"snapshot_data";
/// sm_meta key present while an install replaces the state trees: what is being installed.
pub(crate) const SNAPSHOT_INSTALLING: &[u8] = b"snapshot_installing";

/// Adds to `batch` what makes the image `image` with `meta` the current snapshot (and drops an
/// image an older version kept in sled).
pub(crate) fn name_current(
    batch: &mut sled::Batch,
    meta: &openraft::storage::SnapshotMeta<crate::types::ReplicaId, openraft::BasicNode>,
    image: &str,
) {
    batch.insert(SNAPSHOT_META, crate::state_machine::json(meta));
    batch.insert(SNAPSHOT_FILE, image.as_bytes());
    batch.remove(SNAPSHOT_DATA);
}
