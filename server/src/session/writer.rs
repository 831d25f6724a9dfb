//! Writing a member's queue to its stream: several frames per write when they pile up, so a busy
//! client costs fewer packets while an idle one gets each frame at once. (Joins and leaves are
//! gathered by the room before they get here: see `Room::tell_presence`.)

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use quinn::SendStream;

use crate::queue;

/// Most frames written in one go when a client's queue has several waiting.
const WRITE_BATCH: usize = 64;
/// Room for this many frames stays with an idle member's writer (see [`write_loop`]).
const KEEP_FRAMES: usize = 4;
/// Frames up to this size are merged into one write when several are queued; see
/// [`merge_small_frames`].
const MERGE_UP_TO: usize = 1024;

/// Writes whatever the room queues for us until the queue is closed and drained.
pub(super) async fn write_loop(
    send: &mut SendStream,
    rx: &mut queue::Receiver,
    delivered: &Counter,
) -> Result<(), quinn::WriteError> {
    let mut batch = Vec::with_capacity(KEEP_FRAMES);
    let mut chunks = Vec::new();
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let frames = batch.len() as u64;
        if batch.len() > 1 {
            merge_small_frames(&mut batch, &mut chunks);
            send.write_all_chunks(&mut chunks).await?;
            chunks.clear();
        } else {
            send.write_all_chunks(&mut batch).await?;
        }
        batch.clear();
        delivered.inc_by(frames);
        // Idle again: a busy spell's vectors (3 KiB at most) are not kept for every quiet member,
        // but room for a few frames is (128 bytes), since most deliveries bring one or two.
        // Dropping that too cost an allocation per delivery, 60% of the server's mallocs in
        // fanout 100 × 20 (a uprobe on malloc).
        if rx.is_empty() {
            if batch.capacity() > KEEP_FRAMES {
                batch = Vec::with_capacity(KEEP_FRAMES);
            }
            chunks = Vec::new();
        }
    }
    Ok(())
}

/// Moves `batch` into `chunks`, small frames that follow each other copied into one buffer.
///
/// quinn keeps every written chunk until it is acknowledged and finds the bytes for each packet by
/// walking that list from the start, so a busy member's window of small frames written one by one
/// (thousands of 50-byte chunks) made that walk 10% of the server's CPU in a profile of fast
/// chatter. Larger frames (presence batches, history) are written as they are: the room encodes
/// them once for every member, and a copy per member held 8 KiB more per idle member while a room
/// of 5000 filled.
fn merge_small_frames(batch: &mut Vec<Bytes>, chunks: &mut Vec<Bytes>) {
    // One allocation for all of them, not one per doubling.
    let small_bytes = batch
        .iter()
        .filter(|frame| frame.len() <= MERGE_UP_TO)
        .map(Bytes::len)
        .sum();
    let mut small = bytes::BytesMut::with_capacity(small_bytes);
    for frame in batch.drain(..) {
        if frame.len() <= MERGE_UP_TO {
            small.extend_from_slice(&frame);
        } else {
            if !small.is_empty() {
                chunks.push(small.split().freeze());
            }
            chunks.push(frame);
        }
    }
    if !small.is_empty() {
        chunks.push(small.freeze());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_are_merged_and_large_ones_stay_shared() {
        let large = Bytes::from(vec![7u8; MERGE_UP_TO + 1]);
        let mut batch = vec![
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"cd"),
            large.clone(),
            Bytes::from_static(b"ef"),
        ];
        let mut chunks = Vec::new();
        merge_small_frames(&mut batch, &mut chunks);
        assert!(batch.is_empty());
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0], Bytes::from_static(b"abcd"));
        // The room's encoded frame itself, not a copy of it.
        assert_eq!(chunks[1].as_ptr(), large.as_ptr());
        assert_eq!(chunks[2], Bytes::from_static(b"ef"));
        let written: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(written.len(), 6 + large.len());
    }
}
