//! A trie over literal leading path segments, one per host scope.
//!
//! Each match is filed under the node of its literal leading segments (see
//! [`crate::pattern::literal_prefix`]). A lookup walks the request path from
//! the root and tests only the matches filed at the nodes it visits, which
//! are the only ones whose literal part the path can start with.
//!
//! The trie is stored flat, so building one costs a few allocations rather
//! than several per node. The edges of every node are in one hash table
//! keyed by parent node and segment. The segment texts are back to back in
//! one string, and the entry ids of every node are in one array.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// Entry ids filed under literal path segments.
#[derive(Debug, Default)]
pub(crate) struct Trie {
    /// Each node's run of `entries`, as start and end. Node 0 is the root.
    nodes: Vec<(u32, u32)>,
    /// Entry ids, ascending within each node's run. Ids are ranks, so this
    /// is rank order.
    entries: Vec<u32>,
    edges: HashTable<Edge>,
    /// Segment texts of the edges.
    text: String,
    /// `(node, entry)` pairs filed since the last [`Trie::finish`].
    filed: Vec<(u32, u32)>,
}

/// A child of a node, reached by one path segment.
#[derive(Clone, Copy, Debug)]
struct Edge {
    parent: u32,
    child: u32,
    /// The segment, as a range of [`Trie::text`].
    start: u32,
    end: u32,
}

impl Trie {
    /// Files `entry` under `path_segments`. Lookups see it after
    /// [`Trie::finish`].
    pub(crate) fn insert<'s>(&mut self, path_segments: impl Iterator<Item = &'s str>, entry: u32) {
        if self.nodes.is_empty() {
            self.nodes.push((0, 0));
        }
        let mut node = 0u32;
        for segment in path_segments {
            node = match self.child(node, segment) {
                Some(child) => child,
                None => self.add_child(node, segment),
            };
        }
        self.filed.push((node, entry));
    }

    fn add_child(&mut self, parent: u32, segment: &str) -> u32 {
        let child = self.nodes.len() as u32;
        self.nodes.push((0, 0));
        let start = self.text.len() as u32;
        self.text.push_str(segment);
        let edge = Edge {
            parent,
            child,
            start,
            end: self.text.len() as u32,
        };
        let text = &self.text;
        self.edges
            .insert_unique(edge_hash(parent, segment), edge, |edge| {
                edge_hash(edge.parent, edge.segment(text))
            });
        child
    }

    /// Sorts the filed entries into each node's run, in rank order.
    pub(crate) fn finish(&mut self) {
        if self.filed.is_empty() {
            return;
        }
        let mut filed = std::mem::take(&mut self.filed);
        filed.extend(self.runs());
        filed.sort_unstable();
        filed.dedup();
        self.entries.clear();
        self.entries.reserve_exact(filed.len());
        for run in filed.chunk_by(|a, b| a.0 == b.0) {
            let start = self.entries.len() as u32;
            self.entries.extend(run.iter().map(|&(_, entry)| entry));
            self.nodes[run[0].0 as usize] = (start, self.entries.len() as u32);
        }
        self.nodes.shrink_to_fit();
        self.text.shrink_to_fit();
    }

    /// Returns the `(node, entry)` pairs already in the runs.
    fn runs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .flat_map(move |(node, &(start, end))| {
                self.entries[start as usize..end as usize]
                    .iter()
                    .map(move |&entry| (node as u32, entry))
            })
    }

    /// Calls `visit` with the entries of every node along `path`, root
    /// first. Stops when `visit` returns false. Does not allocate.
    pub(crate) fn walk(&self, path: &str, mut visit: impl FnMut(&[u32]) -> bool) {
        if self.nodes.is_empty() || !visit(self.entries_of(0)) {
            return;
        }
        let mut node = 0;
        // Splits like `pattern::segments`, with a byte loop that is faster
        // than `str::split` on short segments.
        let mut rest = path.strip_prefix('/').unwrap_or(path);
        loop {
            let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
            let Some(child) = self.child(node, &rest[..end]) else {
                return;
            };
            node = child;
            if !visit(self.entries_of(node)) || end == rest.len() {
                return;
            }
            rest = &rest[end + 1..];
        }
    }

    /// Calls `visit` with the entries of the nodes along `path_segments`:
    /// the entries whose literal prefix is a prefix of those segments.
    pub(crate) fn ancestors<'s>(
        &self,
        path_segments: impl Iterator<Item = &'s str>,
        mut visit: impl FnMut(&[u32]),
    ) {
        if self.nodes.is_empty() {
            return;
        }
        let mut node = 0;
        visit(self.entries_of(node));
        for segment in path_segments {
            let Some(child) = self.child(node, segment) else {
                return;
            };
            node = child;
            visit(self.entries_of(node));
        }
    }

    /// Iterates over every entry id in the trie, in no particular order.
    pub(crate) fn all_entries(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().copied()
    }

    fn entries_of(&self, node: u32) -> &[u32] {
        let (start, end) = self.nodes[node as usize];
        &self.entries[start as usize..end as usize]
    }

    fn child(&self, parent: u32, segment: &str) -> Option<u32> {
        self.edges
            .find(edge_hash(parent, segment), |edge| {
                edge.parent == parent && edge.segment(&self.text) == segment
            })
            .map(|edge| edge.child)
    }
}

fn edge_hash(parent: u32, segment: &str) -> u64 {
    FxBuildHasher.hash_one((parent, segment))
}

// === impl Edge ===

impl Edge {
    fn segment<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start as usize..self.end as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::Trie;

    fn walked(trie: &Trie, path: &str) -> Vec<u32> {
        let mut seen = Vec::new();
        trie.walk(path, |ids| {
            seen.extend_from_slice(ids);
            true
        });
        seen
    }

    #[test]
    fn walk_visits_path_nodes_in_rank_order() {
        let mut trie = Trie::default();
        trie.insert(["api", "v1"].into_iter(), 4);
        trie.insert(std::iter::empty(), 9);
        trie.insert(["api"].into_iter(), 2);
        trie.insert(["api", "v1"].into_iter(), 1);
        trie.insert(["apix"].into_iter(), 0);
        trie.finish();
        assert_eq!(walked(&trie, "/api/v1/users"), [9, 2, 1, 4]);
        assert_eq!(walked(&trie, "/api"), [9, 2]);
        assert_eq!(walked(&trie, "/apix/v1"), [9, 0]);
        assert_eq!(walked(&trie, "/other"), [9]);
        let mut all: Vec<u32> = trie.all_entries().collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 4, 9]);
    }

    #[test]
    fn finish_twice_keeps_earlier_entries() {
        let mut trie = Trie::default();
        trie.insert(["a"].into_iter(), 3);
        trie.finish();
        trie.insert(["a"].into_iter(), 1);
        trie.insert(["b"].into_iter(), 2);
        trie.finish();
        assert_eq!(walked(&trie, "/a"), [1, 3]);
        assert_eq!(walked(&trie, "/b"), [2]);
    }

    #[test]
    fn empty_trie_walk_visits_nothing() {
        let trie = Trie::default();
        assert!(walked(&trie, "/a").is_empty());
    }
}
