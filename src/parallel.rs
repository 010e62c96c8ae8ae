//! Work over many services, shared between the machine's cores.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many items a list is worked through on the calling thread alone: starting a
/// thread, and waking the core it runs on, costs more than the work it would take over.
pub const MIN_ITEMS_TO_SHARE: usize = 1024;

/// Items in a chunk: small enough for a late thread to still take a fair share, big enough
/// that taking one costs nothing next to working through it.
pub const CHUNK_LEN: usize = 32;

/// `f` applied to consecutive chunks of `items` (with the index of each chunk's first item),
/// its results in the chunks' order: a long list is shared between the cores ([`share`]) in
/// chunks of [`CHUNK_LEN`], a short one is one chunk, worked through on the calling thread.
pub fn map_chunks<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> R + Sync,
{
    if items.len() < MIN_ITEMS_TO_SHARE {
        return vec![f(0, items)];
    }
    share(items, f)
}

/// What [`map_chunks`] can make of each chunk and [`concat`] put back together.
pub trait Joined: Default {
    fn len(&self) -> usize;
    fn reserve(&mut self, additional: usize);
    fn append(&mut self, other: Self);
}

impl<T> Joined for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
    fn append(&mut self, mut other: Self) {
        Vec::append(self, &mut other);
    }
}

impl<K: std::hash::Hash + Eq, V> Joined for indexmap::IndexMap<K, V> {
    fn len(&self) -> usize {
        indexmap::IndexMap::len(self)
    }
    fn reserve(&mut self, additional: usize) {
        indexmap::IndexMap::reserve(self, additional);
    }
    fn append(&mut self, other: Self) {
        self.extend(other);
    }
}

/// The chunks [`map_chunks`] made, as one: the first is kept, with room made once for the
/// others, which are moved onto its end. A short list, one chunk, is not copied at all.
pub fn concat<C: Joined>(chunks: Vec<C>) -> C {
    let total: usize = chunks.iter().map(Joined::len).sum();
    let mut chunks = chunks.into_iter();
    let mut all = chunks.next().unwrap_or_default();
    all.reserve(total - all.len());
    for chunk in chunks {
        all.append(chunk);
    }
    all
}

/// `f` applied to the chunks of [`CHUNK_LEN`] items, its results in the chunks' order, with up
/// to 3 more threads (one per core): each thread takes the next chunk not yet taken until none
/// is left. The calling thread starts at once; a thread that starts late (an idle core can take
/// milliseconds to wake) takes fewer chunks instead of holding the others up, as a fixed share
/// would.
fn share<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> R + Sync,
{
    let chunks: Vec<&[T]> = items.chunks(CHUNK_LEN).collect();
    let threads = if chunks.len() > 1 {
        // Asked only for work worth sharing: on Linux the answer reads cgroup files.
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4).min(chunks.len()))
    } else {
        1
    };
    let next = AtomicUsize::new(0);
    let take_chunks = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = chunks.get(i) else {
                return done;
            };
            done.push((i, f(i * CHUNK_LEN, chunk)));
        }
    };
    let mut done = std::thread::scope(|scope| {
        // A thread that cannot be started leaves its chunks to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, take_chunks)
                    .ok()
            })
            .collect();
        let mut done = take_chunks();
        for helper in helpers {
            match helper.join() {
                Ok(theirs) => done.extend(theirs),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunks_cover_every_item_once_in_order_whatever_the_length() {
        for len in [
            0,
            1,
            7,
            MIN_ITEMS_TO_SHARE - 1,
            MIN_ITEMS_TO_SHARE,
            1_001,
            5_000,
        ] {
            let items: Vec<usize> = (0..len).collect();
            let chunks = map_chunks(&items, |start, chunk| {
                assert_eq!(chunk.first(), items.get(start));
                chunk.to_vec()
            });
            assert_eq!(concat(chunks), items, "{len} items");
        }
    }

    #[test]
    fn a_long_list_is_shared_between_threads_when_there_are_cores() {
        let items: Vec<usize> = (0..MIN_ITEMS_TO_SHARE * 2).collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let expected = cores.min(4);
        // The first chunks each wait (up to 10 s, on a busy machine) until as many have been
        // taken as there are threads: only a thread not yet waiting can take the next one.
        let arrived = AtomicUsize::new(0);
        let threads = map_chunks(&items, |start, _| {
            if start < expected * CHUNK_LEN {
                arrived.fetch_add(1, Ordering::SeqCst);
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while arrived.load(Ordering::SeqCst) < expected
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            std::thread::current().id()
        });
        assert_eq!(threads.len(), items.len() / CHUNK_LEN);
        let distinct: std::collections::HashSet<_> = threads.iter().collect();
        assert_eq!(
            distinct.len(),
            expected,
            "threads for {} items",
            items.len()
        );
        // The calling thread works too, rather than only waiting for the others.
        assert!(threads.contains(&std::thread::current().id()));
    }

    #[test]
    fn a_short_list_is_one_chunk_on_the_calling_thread() {
        let items: Vec<usize> = (0..MIN_ITEMS_TO_SHARE - 1).collect();
        let threads = map_chunks(&items, |_, _| std::thread::current().id());
        assert_eq!(threads, vec![std::thread::current().id()]);
    }
}
