//! A trie over literal leading path segments, one per host scope.
//!
//! Each match is filed under the node of its literal leading segments (see
//! [`crate::pattern::literal_prefix`]). A lookup walks the request path from
//! the root and tests only the matches filed at the nodes it visits, which
//! are the only ones whose literal part the path can start with.

use rustc_hash::FxHashMap;

/// Most children a node keeps in a list. Comparing a few short segments is
/// cheaper than hashing the request segment, and a list of one costs less
/// memory than a hash table.
const MAX_LISTED_CHILDREN: usize = 8;

/// Entry ids filed under literal path segments.
#[derive(Debug, Default)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    children: Children,
    /// Entry ids, ascending. Ids are ranks, so this is rank order.
    entries: Vec<u32>,
}

/// Child node ids by path segment.
#[derive(Debug)]
enum Children {
    /// At most [`MAX_LISTED_CHILDREN`], searched in order.
    Listed(Vec<(Box<str>, u32)>),
    Hashed(FxHashMap<Box<str>, u32>),
}

impl Trie {
    /// Files `entry` under `path_segments`.
    pub(crate) fn insert<'s>(&mut self, path_segments: impl Iterator<Item = &'s str>, entry: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut node = 0usize;
        for segment in path_segments {
            let child = match self.nodes[node].children.get(segment) {
                Some(child) => child,
                None => {
                    let child = self.nodes.len() as u32;
                    self.nodes[node].children.insert(segment, child);
                    self.nodes.push(Node::default());
                    child
                }
            };
            node = child as usize;
        }
        self.nodes[node].entries.push(entry);
    }

    /// Sorts every node's entries into rank order.
    pub(crate) fn finish(&mut self) {
        for node in &mut self.nodes {
            node.entries.sort_unstable();
            node.entries.dedup();
            node.entries.shrink_to_fit();
        }
    }

    /// Calls `visit` with the entries of every node along `path`, root
    /// first. Stops when `visit` returns false. Does not allocate.
    pub(crate) fn walk(&self, path: &str, mut visit: impl FnMut(&[u32]) -> bool) {
        let Some(root) = self.nodes.first() else {
            return;
        };
        if !visit(&root.entries) {
            return;
        }
        let mut node = root;
        // Splits like `pattern::segments`, with a byte loop that is faster
        // than `str::split` on short segments.
        let mut rest = path.strip_prefix('/').unwrap_or(path);
        loop {
            let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
            let Some(child) = node.children.get(&rest[..end]) else {
                return;
            };
            node = &self.nodes[child as usize];
            if !visit(&node.entries) || end == rest.len() {
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
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        visit(&node.entries);
        for segment in path_segments {
            let Some(child) = node.children.get(segment) else {
                return;
            };
            node = &self.nodes[child as usize];
            visit(&node.entries);
        }
    }

    /// Iterates over every entry id in the trie, in no particular order.
    pub(crate) fn all_entries(&self) -> impl Iterator<Item = u32> + '_ {
        self.nodes
            .iter()
            .flat_map(|node| node.entries.iter().copied())
    }
}

// === impl Children ===

impl Default for Children {
    fn default() -> Self {
        Self::Listed(Vec::new())
    }
}

impl Children {
    fn get(&self, segment: &str) -> Option<u32> {
        match self {
            Self::Listed(list) => list
                .iter()
                .find(|(known, _)| **known == *segment)
                .map(|&(_, child)| child),
            Self::Hashed(map) => map.get(segment).copied(),
        }
    }

    /// Adds a segment that is not a child yet.
    fn insert(&mut self, segment: &str, child: u32) {
        match self {
            Self::Listed(list) if list.len() < MAX_LISTED_CHILDREN => {
                list.push((segment.into(), child));
            }
            Self::Listed(list) => {
                let mut map: FxHashMap<Box<str>, u32> = list.drain(..).collect();
                map.insert(segment.into(), child);
                *self = Self::Hashed(map);
            }
            Self::Hashed(map) => {
                map.insert(segment.into(), child);
            }
        }
    }
}
