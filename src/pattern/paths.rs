//! The field paths the rules name, as a trie of path segments: the scanner
//! follows it to decide which members of an event to read. A node may be a
//! field (a leaf path of some pattern) and also have children. Segments never
//! contain a dot: a field's name is its keys joined with dots, so an event key
//! `a.b` walks two segments ([`PathTrie::dotted`]). It knows nothing about
//! values or rules.

use super::index::{bytes_eq, tail_word};

/// Field paths as a trie of object keys; a node may be a field (a leaf path of
/// some pattern) and also have children.
#[derive(Debug, Default)]
pub(crate) struct PathTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    children: Vec<Child>,
    field: Option<u32>,
    parent: u32,
    /// Some child has children of its own, so a dotted key can reach below
    /// this node's children.
    grandchildren: bool,
}

/// A child key with its length and first eight bytes as one word: most keys
/// of a node already differ there, and a key of up to eight bytes is then
/// compared in full with two integer compares.
#[derive(Debug)]
struct Child {
    len: usize,
    head: u64,
    key: Box<[u8]>,
    node: u32,
}

/// The first eight bytes of `key` as a word, or for a shorter key a word made
/// of all its bytes; with the length compared too, equal words mean equal keys
/// up to eight bytes.
#[inline(always)]
fn head_word(key: &[u8]) -> u64 {
    match key.get(..8) {
        Some(&[a, b, c, d, e, f, g, h]) => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => tail_word(key),
    }
}

impl PathTrie {
    pub(crate) fn new() -> Self {
        PathTrie {
            nodes: vec![TrieNode::default()],
        }
    }

    /// The field id of `path`, `next_id` if it is new (then the caller counts it).
    pub(crate) fn insert(&mut self, path: &[String], next_id: u32) -> u32 {
        let mut node = 0usize;
        for key in path {
            let found = self.nodes[node]
                .children
                .iter()
                .find(|c| &c.key[..] == key.as_bytes())
                .map(|c| c.node);
            node = match found {
                Some(child) => child as usize,
                None => {
                    let child =
                        u32::try_from(self.nodes.len()).expect("fewer than 2^32 path nodes");
                    self.nodes.push(TrieNode {
                        parent: u32::try_from(node).expect("fewer than 2^32 path nodes"),
                        ..TrieNode::default()
                    });
                    if node != 0 {
                        let parent = self.nodes[node].parent as usize;
                        self.nodes[parent].grandchildren = true;
                    }
                    self.nodes[node].children.push(Child {
                        len: key.len(),
                        head: head_word(key.as_bytes()),
                        key: key.as_bytes().into(),
                        node: child,
                    });
                    child as usize
                }
            };
        }
        *self.nodes[node].field.get_or_insert(next_id)
    }

    pub(crate) fn approx_memory_bytes(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| {
                std::mem::size_of::<TrieNode>()
                    + n.children
                        .iter()
                        .map(|c| std::mem::size_of::<Child>() + c.key.len())
                        .sum::<usize>()
            })
            .sum()
    }

    /// The child node for `key` and its position among the node's children.
    #[inline(always)]
    pub(crate) fn child(&self, node: u32, key: &[u8]) -> Option<(usize, u32)> {
        let children = &self.nodes.get(node as usize)?.children;
        let head = head_word(key);
        for (i, c) in children.iter().enumerate() {
            if c.head == head && c.len == key.len() && (c.len <= 8 || bytes_eq(&c.key, key)) {
                return Some((i, c.node));
            }
        }
        None
    }

    /// The node that a key containing dots leads to from `node`, one child per
    /// dot-separated segment (`a.b` is `a` then `b`), if the rules name it.
    /// Only a node with grandchildren can have such a descendant.
    #[inline]
    pub(crate) fn dotted(&self, node: u32, key: &[u8]) -> Option<u32> {
        if !self.nodes.get(node as usize)?.grandchildren || !key.contains(&b'.') {
            return None;
        }
        key.split(|&b| b == b'.')
            .try_fold(node, |at, segment| self.child(at, segment).map(|(_, c)| c))
    }

    /// Whether a dotted key can lead below the children of `node`: then
    /// having seen every child key does not mean the rest of the object
    /// names nothing.
    #[inline]
    pub(crate) fn has_grandchildren(&self, node: u32) -> bool {
        self.nodes[node as usize].grandchildren
    }

    /// The field id of `node`, if some pattern names exactly this path.
    pub(crate) fn field(&self, node: u32) -> Option<u32> {
        self.nodes[node as usize].field
    }

    /// The node of field `field`.
    pub(crate) fn node_of_field(&self, field: u32) -> Option<u32> {
        self.nodes
            .iter()
            .position(|n| n.field == Some(field))
            .and_then(|i| u32::try_from(i).ok())
    }

    /// `node` and its ancestors up to the root.
    pub(crate) fn ancestors(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        let mut next = Some(node);
        std::iter::from_fn(move || {
            let current = next?;
            next = (current != 0).then(|| self.nodes[current as usize].parent);
            Some(current)
        })
    }

    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn child_count(&self, node: u32) -> usize {
        self.nodes[node as usize].children.len()
    }
}
