//! Field paths such as `spec.rules[0].matches[1].path.value`, linked on
//! the stack and formatted only when an error names one, so validating a
//! valid Route builds no path strings.

use std::fmt;

/// A path to a field of a Route, as a chain of parents.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FieldPath<'p> {
    /// A top-level path, written as is.
    Root(&'static str),
    /// A named field of the parent: `parent.name`.
    Child(&'p FieldPath<'p>, &'static str),
    /// An element of the parent list: `parent[index]`.
    Item(&'p FieldPath<'p>, usize),
}

// === impl FieldPath ===

impl<'p> FieldPath<'p> {
    /// The field `name` of this one.
    pub(crate) fn child(&'p self, name: &'static str) -> Self {
        Self::Child(self, name)
    }

    /// The element `index` of this list.
    pub(crate) fn item(&'p self, index: usize) -> Self {
        Self::Item(self, index)
    }
}

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root(path) => f.write_str(path),
            Self::Child(parent, name) => write!(f, "{parent}.{name}"),
            Self::Item(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FieldPath;

    #[test]
    fn field_path_formats_names_and_indexes() {
        let rules = FieldPath::Root("spec.rules");
        let rule = rules.item(2);
        let matches = rule.child("matches");
        let first = matches.item(0);
        assert_eq!(
            first.child("path").child("value").to_string(),
            "spec.rules[2].matches[0].path.value"
        );
    }
}
