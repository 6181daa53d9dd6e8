//! Every role × every workspace-level operation: allowed calls succeed; denied calls answer FORBIDDEN
//! (UNAUTHENTICATED when anonymous) and change nothing.

use serde_json::{Value, json};

use crate::common::TestApp;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Actor {
    SystemAdmin,
    SystemEditor,
    SystemViewer,
    WorkspaceAdmin,
    WorkspaceEditor,
    WorkspaceViewer,
    NonMember,
    Anonymous,
}

use Actor::*;

/// An operation and who may perform it (from SPEC §2's matrix and the guards SPEC §6 names).
struct Operation {
    name: &'static str,
    query: &'static str,
    allowed: &'static [Actor],
}

const READERS: &[Actor] = &[SystemAdmin, SystemEditor, SystemViewer, WorkspaceAdmin, WorkspaceEditor, WorkspaceViewer];
const IAM: &[Actor] = &[SystemAdmin, SystemEditor, WorkspaceAdmin];

const OPERATIONS: &[Operation] = &[
    Operation {
        name: "workspace",
        query: "query($w: Uuid!) { workspace(workspaceUuid: $w) { id label } }",
        allowed: READERS,
    },
    Operation {
        name: "workspaceUsers",
        query: "query($w: Uuid!) { workspaceUsers(workspaceUuid: $w) { id } }",
        allowed: READERS,
    },
    Operation {
        name: "workspaceUser",
        query: "query($w: Uuid!, $email: String!) { workspaceUser(workspaceUuid: $w, user: {email: $email}) { id } }",
        allowed: READERS,
    },
    Operation {
        name: "workspaceInvites",
        query: "query($w: Uuid!) { workspaceInvites(workspaceUuid: $w) { id } }",
        allowed: READERS,
    },
    Operation {
        name: "updateWorkspace",
        query: "mutation($w: Uuid!) { updateWorkspace(workspaceUuid: $w, payload: {description: \"changed\"}) { id } }",
        allowed: &[WorkspaceAdmin, WorkspaceEditor],
    },
    Operation {
        name: "workspaceAddUser",
        query: "mutation($w: Uuid!) { workspaceAddUser(workspaceUuid: $w, email: \"newcomer@example.com\") { id } }",
        allowed: IAM,
    },
    Operation {
        name: "workspaceUpdateUserRole",
        query: "mutation($w: Uuid!, $email: String!) { workspaceUpdateUserRole(workspaceUuid: $w, email: $email, role: WORKSPACE_EDITOR) }",
        allowed: IAM,
    },
    Operation {
        name: "workspaceRemoveUser",
        query: "mutation($w: Uuid!, $target: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $target) { id } }",
        allowed: IAM,
    },
    Operation {
        name: "deleteInviteToken",
        query: "mutation($invite: Uuid!) { deleteInviteToken(inviteUuid: $invite) { id } }",
        allowed: IAM,
    },
    Operation {
        name: "deleteWorkspace",
        query: "mutation($w: Uuid!) { deleteWorkspace(workspaceUuid: $w) { id } }",
        allowed: &[SystemAdmin, WorkspaceAdmin],
    },
    Operation {
        name: "workspaces",
        query: "{ workspaces { id } }",
        allowed: &[
            SystemAdmin,
            SystemEditor,
            SystemViewer,
            WorkspaceAdmin,
            WorkspaceEditor,
            WorkspaceViewer,
            NonMember,
        ],
    },
    Operation {
        name: "workspaceUpsertUserRole",
        query: "mutation($w: Uuid!, $email: String!) { workspaceUpsertUserRole(workspaceUuid: $w, email: $email, role: WORKSPACE_EDITOR) }",
        allowed: IAM,
    },
    Operation {
        name: "deleteSystemRoleBinding",
        query: "mutation($target: Uuid!) { deleteSystemRoleBinding(userId: $target, role: SYSTEM_VIEWER) { role } }",
        allowed: &[SystemAdmin, SystemEditor],
    },
    Operation { name: "users", query: "{ users { id } }", allowed: &[SystemAdmin, SystemEditor, SystemViewer] },
    Operation { name: "invites", query: "{ invites { id } }", allowed: &[SystemAdmin, SystemEditor, SystemViewer] },
    Operation {
        name: "inviteUser",
        query: "mutation { inviteUser(email: \"someone@example.com\") { id } }",
        allowed: &[SystemAdmin],
    },
    Operation {
        name: "createSystemRoleBinding",
        query: "mutation($target: Uuid!) { createSystemRoleBinding(userId: $target, role: SYSTEM_VIEWER) { role } }",
        allowed: &[SystemAdmin, SystemEditor],
    },
    Operation {
        name: "removeUser",
        query: "mutation($target: Uuid!) { removeUser(userUuid: $target) { id } }",
        allowed: &[SystemAdmin],
    },
    Operation {
        name: "createWorkspace",
        query: "mutation { createWorkspace(label: \"made by the actor\") { id } }",
        allowed: &[
            SystemAdmin,
            SystemEditor,
            SystemViewer,
            WorkspaceAdmin,
            WorkspaceEditor,
            WorkspaceViewer,
            NonMember,
        ],
    },
];

fn workspace_role(actor: Actor) -> Option<&'static str> {
    match actor {
        WorkspaceAdmin => Some("WORKSPACE_ADMIN"),
        WorkspaceEditor => Some("WORKSPACE_EDITOR"),
        WorkspaceViewer => Some("WORKSPACE_VIEWER"),
        _ => None,
    }
}

fn system_role(actor: Actor) -> Option<&'static str> {
    match actor {
        SystemAdmin => Some("SYSTEM_ADMIN"),
        SystemEditor => Some("SYSTEM_EDITOR"),
        SystemViewer => Some("SYSTEM_VIEWER"),
        _ => None,
    }
}

async fn run_for(actor: Actor) {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let root = app.with_owners().await;
    let (actor_token, actor_id) = app.sign_up("actor@example.com", "correct horse battery").await;
    if let Some(role) = system_role(actor) {
        let body = app.grant_system_role(&root, &actor_id, role).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let token = (actor != Anonymous).then_some(actor_token.as_str());

    for (index, operation) in OPERATIONS.iter().enumerate() {
        // A fresh workspace for each operation: root administers it, a target user is a viewer, an
        // invite is pending, and the actor holds its workspace role there.
        let workspace = app.create_workspace(&root, &format!("ws-{index}")).await;
        let target_email = format!("target{index}@example.com");
        let (_, target_id) = app.sign_up(&target_email, "correct horse battery").await;
        assert!(
            app.add_to_workspace(&root, &workspace, &target_email, "WORKSPACE_VIEWER").await.get("errors").is_none()
        );
        let invited =
            app.add_to_workspace(&root, &workspace, &format!("pending{index}@example.com"), "WORKSPACE_VIEWER").await;
        assert!(invited.get("errors").is_none(), "{invited}");
        let invite = app.text(&format!("SELECT id::text AS t FROM invites WHERE workspace_id = '{workspace}'")).await;
        if operation.name == "deleteSystemRoleBinding" {
            assert!(app.grant_system_role(&root, &target_id, "SYSTEM_VIEWER").await.get("errors").is_none());
        }
        if let Some(role) = workspace_role(actor) {
            let body = app.add_to_workspace(&root, &workspace, "actor@example.com", role).await;
            assert!(body.get("errors").is_none(), "{body}");
        }

        let before = app.access_snapshot().await;
        let variables = json!({"w": workspace, "email": target_email, "target": target_id, "invite": invite});
        let body: Value = app.gql(operation.query, variables, token).await;
        let allowed = operation.allowed.contains(&actor);
        if allowed {
            assert!(body.get("errors").is_none(), "{actor:?} may {}: {body}", operation.name);
        } else {
            let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
            let expected = if actor == Anonymous { "UNAUTHENTICATED" } else { "FORBIDDEN" };
            assert_eq!(code, expected, "{actor:?} may not {}: {body}", operation.name);
            if expected == "FORBIDDEN" {
                assert_eq!(body["errors"][0]["message"], "Access is Denied");
            }
            assert_eq!(app.access_snapshot().await, before, "denied {} by {actor:?} changed nothing", operation.name);
        }
    }
}

#[tokio::test]
async fn system_admin() {
    run_for(SystemAdmin).await;
}

#[tokio::test]
async fn system_editor() {
    run_for(SystemEditor).await;
}

#[tokio::test]
async fn system_viewer() {
    run_for(SystemViewer).await;
}

#[tokio::test]
async fn workspace_admin() {
    run_for(WorkspaceAdmin).await;
}

#[tokio::test]
async fn workspace_editor() {
    run_for(WorkspaceEditor).await;
}

#[tokio::test]
async fn workspace_viewer() {
    run_for(WorkspaceViewer).await;
}

#[tokio::test]
async fn non_member() {
    run_for(NonMember).await;
}

#[tokio::test]
async fn anonymous() {
    run_for(Anonymous).await;
}
