//! The field paths the rules name, as a trie of object keys: the scanner
//! follows it to decide which members of an event to read. A node may be a
//! field (a leaf path of some pattern) and also have children. It knows nothing
//! about values or rules.

use super::index::bytes_eq;

/// Field paths as a trie of object keys; a node may be a field (a leaf path of
/// some pattern) and also have children.
#[derive(Debug, Default)]
pub(crate) struct PathTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    children: Vec<(Box<[u8]>, u32)>,
    field: Option<u32>,
    parent: u32,
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
                .find(|(k, _)| &k[..] == key.as_bytes())
                .map(|(_, child)| *child);
            node = match found {
                Some(child) => child as usize,
                None => {
                    let child =
                        u32::try_from(self.nodes.len()).expect("fewer than 2^32 path nodes");
                    self.nodes.push(TrieNode {
                        parent: u32::try_from(node).expect("fewer than 2^32 path nodes"),
                        ..TrieNode::default()
                    });
                    self.nodes[node]
                        .children
                        .push((key.as_bytes().into(), child));
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
                    + n.children.iter().map(|(k, _)| k.len() + 24).sum::<usize>()
            })
            .sum()
    }

    /// The child node for `key` and its position among the node's children.
    pub(crate) fn child(&self, node: u32, key: &[u8]) -> Option<(usize, u32)> {
        self.nodes[node as usize]
            .children
            .iter()
            .enumerate()
            .find(|(_, (k, _))| bytes_eq(k, key))
            .map(|(i, (_, c))| (i, *c))
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
