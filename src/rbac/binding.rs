//! A role binding as the decision procedure sees it.

use std::net::IpAddr;

use ipnet::IpNet;
use uuid::Uuid;

use crate::rbac::Role;
use crate::rbac::permissions::PermissionSet;

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
    /// The IP access list of the organization the target belongs to (docs/ip-access-list.md): the ranges a
    /// request must come from for the binding to count. Empty: from anywhere (and always for system roles,
    /// whose installation-level operations no organization's list restricts).
    pub allowed_from: Vec<IpNet>,
    /// For a custom role (`role` is then `WORKSPACE_CUSTOM` or `DEPLOYMENT_CUSTOM`): which one, and its
    /// permissions, read with the binding so that checks on it stay in memory.
    pub custom: Option<CustomGrant>,
}

/// The custom role a binding holds, as the decision procedure needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomGrant {
    /// The custom role's id.
    pub id: Uuid,
    /// Its permissions (all of the binding's scope).
    pub permissions: PermissionSet,
}

impl Binding {
    /// Reads the bindings of a principal as the principal query packs them (one JSON array per binding:
    /// `[id, role, target, team, ipAccessList, customRoleId, customPermissions]`, see
    /// `crate::db::models::principal`). Malformed entries are skipped, and so is a custom-role marker
    /// without its role (it grants nothing); a stored range that does not parse is kept as a range no address is in, so a damaged list
    /// refuses rather than admits.
    pub fn from_packed(packed: &serde_json::Value) -> Vec<Binding> {
        let id = |value: &serde_json::Value| value.as_str().and_then(|text| text.parse::<Uuid>().ok());
        packed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let role = entry.get(1)?.as_str()?.parse::<Role>().ok()?;
                let custom = entry.get(5).and_then(id).map(|custom_id| CustomGrant {
                    id: custom_id,
                    permissions: PermissionSet::from_strings(
                        entry
                            .get(6)
                            .and_then(|list| list.as_array())
                            .into_iter()
                            .flatten()
                            .filter_map(|permission| permission.as_str()),
                    ),
                });
                if role.is_custom() != custom.is_some() {
                    return None;
                }
                Some(Binding {
                    id: id(entry.get(0)?)?,
                    role,
                    custom,
                    target: entry.get(2).and_then(id),
                    via_team: entry.get(3).and_then(id),
                    allowed_from: stored_ranges(
                        entry
                            .get(4)
                            .and_then(|list| list.as_array())
                            .into_iter()
                            .flatten()
                            .map(|range| range.as_str().unwrap_or_default()),
                    ),
                })
            })
            .collect()
    }

    /// Whether a request from `client` may use this binding: its organization has no IP access list, or the
    /// list has a range holding the address. A request whose address is unknown uses no listed binding.
    pub fn admits(&self, client: Option<IpAddr>) -> bool {
        list_admits(&self.allowed_from, client)
    }
}

/// Whether an IP access list admits `client` (an empty list admits every request). IPv4-mapped IPv6
/// addresses are compared as IPv4.
pub fn list_admits(list: &[IpNet], client: Option<IpAddr>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(client) = client.map(|address| address.to_canonical()) else { return false };
    list.iter().any(|range| range.contains(&client))
}

/// An organization's stored IP access list as ranges; a stored range that does not parse is kept as a
/// range no address is in, so a damaged list refuses rather than admits.
pub fn stored_ranges<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<IpNet> {
    texts.into_iter().map(|text| text.parse::<IpNet>().unwrap_or_else(|_| nowhere())).collect()
}

/// A range no client address is in (stands for a stored range that does not parse).
fn nowhere() -> IpNet {
    IpNet::from(IpAddr::from([0u8, 0, 0, 0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_admit_their_ranges_in_both_families() {
        let list: Vec<IpNet> = ["192.0.2.0/24", "2001:db8::/32"].iter().map(|r| r.parse().unwrap()).collect();
        assert!(list_admits(&list, Some("192.0.2.7".parse().unwrap())));
        assert!(list_admits(&list, Some("::ffff:192.0.2.7".parse().unwrap())));
        assert!(list_admits(&list, Some("2001:db8:1::5".parse().unwrap())));
        assert!(!list_admits(&list, Some("198.51.100.1".parse().unwrap())));
        assert!(!list_admits(&list, Some("2001:db9::1".parse().unwrap())));
        assert!(!list_admits(&list, None));
        assert!(list_admits(&[], None));
    }
}
