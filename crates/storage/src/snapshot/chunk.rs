//! A snapshot chunk on the wire: a length-prefixed JSON head (vote, metadata, offset, whether
//! it is the last) and the chunk's bytes as they are. Raft's other messages stay JSON, but a
//! chunk of bytes in JSON is an array of numbers 3-4 times its size, parsed number by number.

use openraft::raft::InstallSnapshotRequest;
use openraft::storage::SnapshotMeta;
use openraft::{BasicNode, Vote};
use serde::{Deserialize, Serialize};

use crate::machine::ServiceMachine;
use crate::types::{GroupTypes, ReplicaId};

/// Content type of an encoded chunk.
pub const CHUNK_CONTENT_TYPE: &str = "application/x-pygmy-snapshot-chunk";
/// Largest JSON head accepted (it holds the membership, a few hundred bytes).
const HEAD_BYTES_MAX: usize = 1 << 20;

/// Everything of a chunk request but its bytes.
#[derive(Serialize, Deserialize)]
struct ChunkHead {
    vote: Vote<ReplicaId>,
    meta: SnapshotMeta<ReplicaId, BasicNode>,
    offset: u64,
    done: bool,
}

/// Encodes `req`: head length (u32 big-endian), head, then the bytes.
pub(crate) fn encode_chunk<M: ServiceMachine>(
    req: InstallSnapshotRequest<GroupTypes<M>>,
) -> Vec<u8> {
    let head = ChunkHead {
        vote: req.vote,
        meta: req.meta,
        offset: req.offset,
        done: req.done,
    };
    let head = serde_json::to_vec(&head).expect("a chunk head serializes");
    let head_len = u32::try_from(head.len()).expect("a chunk head is small");
    let mut out = Vec::with_capacity(4 + head.len() + req.data.len());
    out.extend_from_slice(&head_len.to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&req.data);
    out
}

/// Decodes a chunk encoded by [`encode_chunk`].
///
/// # Errors
/// It is truncated, its head is too long or does not decode.
pub(crate) fn decode_chunk<M: ServiceMachine>(
    body: &[u8],
) -> Result<InstallSnapshotRequest<GroupTypes<M>>, String> {
    let (len, rest) = body
        .split_first_chunk::<4>()
        .ok_or("a snapshot chunk shorter than its head length")?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > HEAD_BYTES_MAX || len > rest.len() {
        return Err(format!(
            "a snapshot chunk head of {len} bytes in a body of {}",
            body.len()
        ));
    }
    let (head, data) = rest.split_at(len);
    let head: ChunkHead =
        serde_json::from_slice(head).map_err(|e| format!("a snapshot chunk head: {e}"))?;
    Ok(InstallSnapshotRequest {
        vote: head.vote,
        meta: head.meta,
        offset: head.offset,
        data: data.to_vec(),
        done: head.done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{log_id, Registers};

    #[test]
    fn a_chunk_round_trips_and_garbage_is_refused() {
        let req = InstallSnapshotRequest::<GroupTypes<Registers>> {
            vote: Vote::new_committed(3, 1),
            meta: SnapshotMeta {
                last_log_id: Some(log_id(9)),
                last_membership: Default::default(),
                snapshot_id: "3-9-1".into(),
            },
            offset: 1 << 20,
            data: vec![0, 1, 2, 255],
            done: true,
        };
        let back = decode_chunk::<Registers>(&encode_chunk::<Registers>(req.clone())).unwrap();
        assert_eq!(back, req);
        assert!(decode_chunk::<Registers>(&[0, 0]).is_err());
        assert!(decode_chunk::<Registers>(&[255, 255, 255, 255, b'{']).is_err());
        assert!(decode_chunk::<Registers>(&[0, 0, 0, 1, b'x', 1, 2]).is_err());
    }
}
