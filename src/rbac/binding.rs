//! A role binding as the decision procedure sees it.

use uuid::Uuid;

use crate::rbac::Role;

/// One role held by a principal on one scope object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The stored binding's id.
    pub id: Uuid,
    /// The role.
    pub role: Role,
    /// The organization, workspace or deployment it applies to; `None` for system roles.
    pub target: Option<Uuid>,
    /// The team through which a user holds it, if any.
    pub via_team: Option<Uuid>,
}

impl Binding {
    /// Reads the bindings of a principal as the principal query packs them (one JSON array per binding:
    /// `[id, role, target, team]`, see `crate::db::models::principal`). Malformed entries are skipped.
    pub fn from_packed(packed: &serde_json::Value) -> Vec<Binding> {
        let id = |value: &serde_json::Value| value.as_str().and_then(|text| text.parse::<Uuid>().ok());
        packed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                Some(Binding {
                    id: id(entry.get(0)?)?,
                    role: entry.get(1)?.as_str()?.parse::<Role>().ok()?,
                    target: entry.get(2).and_then(id),
                    via_team: entry.get(3).and_then(id),
                })
            })
            .collect()
    }
}
