//! Every mutation of the operation table that a workspace or deployment permission lets in, run over HTTP
//! by a fresh user holding the smallest custom role the API accepts with that permission (issue 26, H3):
//! what a custom role must hold besides the permission (the reads its answers need) is found through the
//! API alone, by calling `createCustomRole` with the permission and adding what each refusal names until
//! it is accepted, never by asking `capcom::rbac`. The holder's call must then answer data without errors
//! and have its effect, as role_matrix checks it for the built-in roles (same cases, same fixtures).
//!
//! Mutations that give or take a role need the grant rule: there the role given (or held by whoever the
//! call changes) is one the holder may give, its own role or a role holding one of its reads. Mutations no
//! custom role of their scope can run are listed in [`UNWORKABLE`] with the reason, and checked to be
//! refused, so the list cannot go stale.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Actor, CASES, Case, Effect, Fixture, Kind, Obj, Run, Setup, check_effect, ok, rule_of};
use capcom::rbac::Role;
use capcom::rbac::operations::Rule;

/// The holder: a member of the organization (`actor@example.com`) with no role until a case gives one.
const HOLDER: Actor = Actor {
    name: "custom_role_holder",
    kind: Kind::Person,
    system: None,
    organization: Some(Role::OrganizationMember),
    workspace: &[],
    deployment: &[],
    setup: Setup::Nothing,
};

const CREATE: &str = "mutation($org: Uuid!, $scope: RoleScope!, $name: String!, $permissions: [String!]!) { createCustomRole(organizationUuid: $org, scope: $scope, name: $name, permissions: $permissions) { id } }";

/// Mutations no custom role of their scope lets its holder run, with the reason.
const UNWORKABLE: &[(&str, &str)] = &[(
    "workspaceUpsertUserRole",
    "it gives a built-in role only (`role: Role!`, no customRoleUuid); a WORKSPACE_* role also gives the \
     DEPLOYMENT_* role on each of the workspace's deployments, which a custom workspace role never holds \
     (custom roles imply nothing below their object), so the grant rule refuses its holder",
)];

/// How a case is run by the holder when the role_matrix case does not fit a custom role: `$give` is the
/// holder's own role, `$lesser` a role holding the first read of it (both of the case's scope).
struct Variant {
    field: &'static str,
    object: Obj,
    /// Permissions the domain asks on top of the row's (the row's comment says so).
    also: &'static [&'static str],
    /// What the fixture's admin gives first, so that the call changes a role the holder may give.
    before: Before,
    /// The document instead of the case's.
    document: Option<&'static str>,
    /// The effect instead of the case's.
    effect: Option<Effect>,
}

#[derive(Clone, Copy, PartialEq)]
enum Before {
    Nothing,
    /// `member@example.com` joins W with `$lesser`.
    MemberHoldsLesser,
    /// The fixture's team holds `$lesser` on W instead of WORKSPACE_VIEWER.
    TeamHoldsLesserOnW,
    /// The target holds `$lesser` on D instead of DEPLOYMENT_VIEWER.
    TargetHoldsLesserOnD,
    /// The fixture's team holds `$lesser` on D instead of DEPLOYMENT_VIEWER.
    TeamHoldsLesserOnD,
    /// `$sa` is a new key of W holding `$lesser`.
    WorkspaceKeyHoldsLesser,
    /// `$dsa` is a new key of D holding `$lesser`.
    DeploymentKeyHoldsLesser,
}

const fn variant(field: &'static str, object: Obj, before: Before, document: Option<&'static str>) -> Variant {
    Variant { field, object, also: &[], before, document, effect: None }
}

const ROLE_ON_W: &str = "SELECT coalesce(custom_role_id::text, role) AS t FROM role_bindings WHERE workspace_id = '{w}' AND user_id = '{mid}'";

const VARIANTS: &[Variant] = &[
    variant(
        "workspaceAddUser",
        Obj::W,
        Before::Nothing,
        Some(
            "mutation($w: Uuid!, $n: String!, $give: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: $n, customRoleUuid: $give) { id } }",
        ),
    ),
    Variant {
        effect: Some(Effect::SqlChanged(ROLE_ON_W)),
        ..variant(
            "workspaceUpdateUserRole",
            Obj::W,
            Before::MemberHoldsLesser,
            Some(
                "mutation($w: Uuid!, $give: Uuid!) { workspaceUpdateUserRole(workspaceUuid: $w, email: \"member@example.com\", customRoleUuid: $give) }",
            ),
        )
    },
    Variant {
        effect: Some(Effect::Sql(
            "SELECT count(*)::text AS t FROM role_bindings WHERE workspace_id = '{w}' AND user_id = '{mid}'",
            "0",
        )),
        ..variant(
            "workspaceRemoveUser",
            Obj::W,
            Before::MemberHoldsLesser,
            Some("mutation($w: Uuid!, $mid: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $mid) { id } }"),
        )
    },
    variant(
        "workspaceAddTeam",
        Obj::W,
        Before::Nothing,
        Some(
            "mutation($w: Uuid!, $team2: Uuid!, $give: Uuid!) { workspaceAddTeam(workspaceUuid: $w, teamUuid: $team2, customRoleUuid: $give) { id } }",
        ),
    ),
    Variant {
        effect: Some(Effect::SqlChanged(
            "SELECT coalesce(custom_role_id::text, role) AS t FROM role_bindings WHERE workspace_id = '{w}' AND team_id = '{team}'",
        )),
        ..variant(
            "workspaceUpdateTeamRole",
            Obj::W,
            Before::TeamHoldsLesserOnW,
            Some(
                "mutation($w: Uuid!, $team: Uuid!, $give: Uuid!) { workspaceUpdateTeamRole(workspaceUuid: $w, teamUuid: $team, customRoleUuid: $give) }",
            ),
        )
    },
    variant("workspaceRemoveTeam", Obj::W, Before::TeamHoldsLesserOnW, None),
    variant(
        "createWorkspaceServiceAccount",
        Obj::W,
        Before::Nothing,
        Some(
            "mutation($w: Uuid!, $give: Uuid!) { createWorkspaceServiceAccount(label: \"new\", workspaceUuid: $w, customRoleUuid: $give) { id } }",
        ),
    ),
    variant("updateWorkspaceServiceAccount", Obj::W, Before::WorkspaceKeyHoldsLesser, None),
    variant("deleteWorkspaceServiceAccount", Obj::W, Before::WorkspaceKeyHoldsLesser, None),
    variant("rotateServiceAccountKey", Obj::W, Before::WorkspaceKeyHoldsLesser, None),
    // applyDeploymentFile's row lets in whoever sees W's deployments; a file naming a new label then
    // needs createDeployment's row (the row's comment).
    Variant {
        also: &["workspace.deployments.create"],
        ..variant("applyDeploymentFile", Obj::W, Before::Nothing, None)
    },
    variant(
        "deploymentAddUserRole",
        Obj::D,
        Before::Nothing,
        Some(
            "mutation($d: Id!, $m: String!, $give: Uuid!) { deploymentAddUserRole(email: $m, deploymentId: $d, customRoleUuid: $give) { id } }",
        ),
    ),
    Variant {
        effect: Some(Effect::SqlChanged(
            "SELECT coalesce(custom_role_id::text, role) AS t FROM role_bindings WHERE deployment_id = '{d}' AND user_id = '{t}'",
        )),
        ..variant(
            "deploymentUpdateUserRole",
            Obj::D,
            Before::TargetHoldsLesserOnD,
            Some(
                "mutation($d: Id!, $te: String!, $give: Uuid!) { deploymentUpdateUserRole(email: $te, deploymentId: $d, customRoleUuid: $give) { id } }",
            ),
        )
    },
    variant("deploymentRemoveUserRole", Obj::D, Before::TargetHoldsLesserOnD, None),
    variant(
        "deploymentAddTeamRole",
        Obj::D,
        Before::Nothing,
        Some(
            "mutation($d: Uuid!, $team: Uuid!, $give: Uuid!) { deploymentAddTeamRole(teamUuid: $team, deploymentUuid: $d, customRoleUuid: $give) { id } }",
        ),
    ),
    Variant {
        effect: Some(Effect::SqlChanged(
            "SELECT coalesce(custom_role_id::text, role) AS t FROM role_bindings WHERE deployment_id = '{d}' AND team_id = '{team}'",
        )),
        ..variant(
            "deploymentUpdateTeamRole",
            Obj::D,
            Before::TeamHoldsLesserOnD,
            Some(
                "mutation($d: Uuid!, $team: Uuid!, $give: Uuid!) { deploymentUpdateTeamRole(deploymentUuid: $d, teamUuid: $team, customRoleUuid: $give) { id } }",
            ),
        )
    },
    variant("deploymentRemoveTeamRole", Obj::D, Before::TeamHoldsLesserOnD, None),
    variant(
        "createDeploymentServiceAccount",
        Obj::D,
        Before::Nothing,
        Some(
            "mutation($d: Uuid!, $give: Uuid!) { createDeploymentServiceAccount(label: \"new\", deploymentUuid: $d, customRoleUuid: $give) { id } }",
        ),
    ),
    variant("updateDeploymentServiceAccount", Obj::D, Before::DeploymentKeyHoldsLesser, None),
    variant("deleteDeploymentServiceAccount", Obj::D, Before::DeploymentKeyHoldsLesser, None),
    variant("rotateServiceAccountKey", Obj::D, Before::DeploymentKeyHoldsLesser, None),
];

const NO_VARIANT: Variant = variant("", Obj::None, Before::Nothing, None);

/// Custom roles made so far, by scope and starting permissions: the role's id and its permissions.
type Made = BTreeMap<(String, Vec<String>), (String, Vec<String>)>;

/// The smallest role of `scope` holding `start` that createCustomRole accepts: `start`, and then each
/// permission a BAD_USER_INPUT refusal names as missing, one at a time, until it is accepted.
async fn smallest_role(run: &Run, made: &mut Made, scope: &str, start: &[String]) -> (String, Vec<String>) {
    let key = (scope.to_owned(), start.to_vec());
    if let Some(known) = made.get(&key) {
        return known.clone();
    }
    let prefix = format!("{}.", scope.to_lowercase());
    let mut permissions = start.to_vec();
    let name = format!("Smallest {}", made.len() + 1);
    let role = loop {
        let variables = json!({"org": run.base["org"], "scope": scope, "name": name, "permissions": permissions});
        let body = run.app.gql(CREATE, variables, Some(&run.root)).await;
        if let Some(id) = body["data"]["createCustomRole"]["id"].as_str() {
            break id.to_owned();
        }
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{permissions:?}: {body}");
        assert_eq!(error["extensions"]["field"], "permissions", "{body}");
        let message = error["message"].as_str().unwrap_or_default();
        let named: Vec<String> = message
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .filter(|word| word.starts_with(&prefix) && word.split('.').count() == 3)
            .filter(|word| !permissions.iter().any(|held| held == word))
            .map(str::to_owned)
            .collect();
        assert!(!named.is_empty(), "{permissions:?} refused without naming a missing permission: {message}");
        permissions.push(named[0].clone());
        assert!(permissions.len() <= 8, "no fixpoint from {start:?}: {permissions:?}");
    };
    made.insert(key, (role.clone(), permissions.clone()));
    (role, permissions)
}

/// Makes what `before` asks on the fixture, as its admin.
async fn prepare(run: &Run, fixture: &mut Fixture, before: Before) {
    let (app, root) = (&run.app, run.root.as_str());
    let v = fixture.json();
    match before {
        Before::Nothing => {}
        Before::MemberHoldsLesser => {
            ok(app, root, "mutation($w: Uuid!, $lesser: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"member@example.com\", customRoleUuid: $lesser) { id } }", v).await;
        }
        Before::TeamHoldsLesserOnW => {
            ok(app, root, "mutation($w: Uuid!, $team: Uuid!, $lesser: Uuid!) { workspaceUpdateTeamRole(workspaceUuid: $w, teamUuid: $team, customRoleUuid: $lesser) }", v).await;
        }
        Before::TargetHoldsLesserOnD => {
            ok(app, root, "mutation($d: Id!, $te: String!, $lesser: Uuid!) { deploymentUpdateUserRole(email: $te, deploymentId: $d, customRoleUuid: $lesser) { id } }", v).await;
        }
        Before::TeamHoldsLesserOnD => {
            ok(app, root, "mutation($d: Uuid!, $team: Uuid!, $lesser: Uuid!) { deploymentUpdateTeamRole(deploymentUuid: $d, teamUuid: $team, customRoleUuid: $lesser) { id } }", v).await;
        }
        Before::WorkspaceKeyHoldsLesser => {
            let data = ok(app, root, "mutation($w: Uuid!, $lesser: Uuid!) { createWorkspaceServiceAccount(label: \"lesser\", workspaceUuid: $w, customRoleUuid: $lesser) { id } }", v).await;
            let id = data["createWorkspaceServiceAccount"]["id"].as_str().unwrap().to_owned();
            fixture.variables.insert("sa".into(), id);
        }
        Before::DeploymentKeyHoldsLesser => {
            let data = ok(app, root, "mutation($d: Uuid!, $lesser: Uuid!) { createDeploymentServiceAccount(label: \"lesser\", deploymentUuid: $d, customRoleUuid: $lesser) { id } }", v).await;
            let id = data["createDeploymentServiceAccount"]["id"].as_str().unwrap().to_owned();
            fixture.variables.insert("dsa".into(), id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_works_for_the_holder_of_the_smallest_custom_role_that_lets_it_in() {
    let mut run = Run::start(&HOLDER).await;
    let mut made = Made::new();
    // A custom deployment role needs a workspace role first: the smallest one, reading W only.
    let (gate, _) = smallest_role(&run, &mut made, "WORKSPACE", &["workspace.config.get".to_owned()]).await;
    let mut ran = Vec::new();
    let mut refused = Vec::new();
    for case in CASES {
        if !case.document.trim_start().starts_with("mutation") {
            continue;
        }
        let scope = match case.object {
            Obj::W => "WORKSPACE",
            Obj::D => "DEPLOYMENT",
            _ => continue,
        };
        let Rule::Permission { any_of, .. } = rule_of(case) else { continue };
        let prefix = format!("{}.", scope.to_lowercase());
        let Some(permission) = any_of.iter().map(|p| p.as_str()).find(|p| p.starts_with(&prefix)) else {
            continue;
        };
        let variant = VARIANTS.iter().find(|v| v.field == case.field && v.object == case.object).unwrap_or(&NO_VARIANT);
        let mut start = vec![permission.to_owned()];
        start.extend(variant.also.iter().map(|p| (*p).to_owned()));
        let (give, held) = smallest_role(&run, &mut made, scope, &start).await;

        let mut fixture = run.fixture(case.prep).await;
        fixture.variables.insert("give".into(), give.clone());
        if variant.before != Before::Nothing {
            let read = held.iter().find(|p| p.ends_with(".get")).unwrap_or_else(|| panic!("{held:?} reads nothing"));
            let (lesser, _) = smallest_role(&run, &mut made, scope, std::slice::from_ref(read)).await;
            fixture.variables.insert("lesser".into(), lesser);
        }
        let (app, root) = (&run.app, run.root.as_str());
        let give_to_holder =
            json!({"w": fixture.variables["w"], "d": fixture.variables["d"], "give": give, "gate": gate});
        if case.object == Obj::W {
            ok(app, root, "mutation($w: Uuid!, $give: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"actor@example.com\", customRoleUuid: $give) { id } }", give_to_holder).await;
        } else {
            ok(app, root, "mutation($w: Uuid!, $gate: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"actor@example.com\", customRoleUuid: $gate) { id } }", give_to_holder.clone()).await;
            ok(app, root, "mutation($d: Id!, $give: Uuid!) { deploymentAddUserRole(email: \"actor@example.com\", deploymentId: $d, customRoleUuid: $give) { id } }", give_to_holder).await;
        }
        prepare(&run, &mut fixture, variant.before).await;

        let call = Case {
            field: case.field,
            form: case.form,
            object: case.object,
            document: variant.document.unwrap_or(case.document),
            prep: case.prep,
            effect: variant.effect.unwrap_or(case.effect),
        };
        let probe = match call.effect {
            Effect::Sql(probe, _) | Effect::SqlChanged(probe) => {
                Some(format!("SELECT coalesce((SELECT p.t FROM ({}) AS p LIMIT 1), '') AS t", fixture.fill(probe)))
            }
            _ => None,
        };
        let probe_before = match &probe {
            Some(sql) => Some(run.app.text(sql).await),
            None => None,
        };
        let audit_before = run.app.count("SELECT count(*) AS n FROM audit_events").await;
        let body = run.app.gql(call.document, fixture.json(), fixture.token.as_deref()).await;
        let what = format!("{} ({:?}) by a holder of {held:?}", case.field, case.form);
        if let Some((_, why)) = UNWORKABLE.iter().find(|(field, _)| *field == case.field) {
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{what} works now ({why}): {body}");
            let written = run.app.count("SELECT count(*) AS n FROM audit_events").await - audit_before;
            assert_eq!(written, 0, "{what}: refused, yet {written} audit events written");
            if let (Some(sql), Some(before)) = (&probe, &probe_before) {
                assert_eq!(&run.app.text(sql).await, before, "{what}: refused, yet changed");
            }
            continue;
        }
        if body.get("errors").is_some_and(|errors| !errors.is_null()) {
            refused.push(format!("{what}: {}", body["errors"][0]));
            continue;
        }
        check_effect(&run, &HOLDER, &call, &fixture, &body, probe.as_deref(), probe_before.as_deref(), &what).await;
        let written = run.app.count("SELECT count(*) AS n FROM audit_events").await - audit_before;
        assert_eq!(written, 1, "{what}: audit events written");
        ran.push(format!("{} {:?}: {held:?}", case.field, case.form));
    }
    eprintln!("{}", ran.join("\n"));
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
    // Every mutation a custom role of either scope could let in was run or is listed.
    assert!(ran.len() >= 30, "only {} mutations ran: {ran:#?}", ran.len());
    for (field, _) in UNWORKABLE {
        assert!(CASES.iter().any(|case| case.field == *field), "{field} is not a case");
    }
    for variant in VARIANTS {
        assert!(
            CASES.iter().any(|case| case.field == variant.field && case.object == variant.object),
            "{} has no case",
            variant.field
        );
    }
    eprintln!("{}", ran.join("\n"));
}
