//! Managed domains: claim, proof by a DNS TXT record (answered by the harness's DNS table), joining the
//! organization with a verified address at sign-up and sign-in, and sign-ups restricted to claimed domains.

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

fn ok(body: &Value) -> &Value {
    assert!(body.get("errors").is_none() || body["errors"].is_null(), "{body}");
    &body["data"]
}

const PASSWORD: &str = "correct horse battery";

/// The first user's token and a new organization "Acme" it owns.
async fn acme(app: &TestApp) -> (String, String) {
    let (root, _) = app.sign_up("root@example.com", PASSWORD).await;
    let created = app.gql("mutation { createOrganization(name: \"Acme\") { id } }", json!({}), Some(&root)).await;
    let id = ok(&created)["createOrganization"]["id"].as_str().unwrap().to_owned();
    (root, id)
}

async fn claim(app: &TestApp, token: &str, organization: &str, domain: &str) -> Value {
    app.gql(
        "mutation($o: Uuid!, $d: String!) { claimOrganizationDomain(organizationUuid: $o, domain: $d) { id domain verified recordName recordValue } }",
        json!({"o": organization, "d": domain}),
        Some(token),
    )
    .await
}

async fn verify(app: &TestApp, token: &str, organization: &str, claim: &str) -> Value {
    app.gql(
        "mutation($o: Uuid!, $c: Uuid!) { verifyOrganizationDomain(organizationUuid: $o, domainUuid: $c) { id verified verifiedAt } }",
        json!({"o": organization, "c": claim}),
        Some(token),
    )
    .await
}

/// Claims `domain` for `organization` and proves it. Returns the claim's id.
pub async fn claim_and_verify(app: &TestApp, token: &str, organization: &str, domain: &str) -> String {
    let claimed = claim(app, token, organization, domain).await;
    let claimed = &ok(&claimed)["claimOrganizationDomain"];
    app.dns.publish(claimed["recordName"].as_str().unwrap(), claimed["recordValue"].as_str().unwrap());
    let id = claimed["id"].as_str().unwrap().to_owned();
    let verified = verify(app, token, organization, &id).await;
    assert_eq!(ok(&verified)["verifyOrganizationDomain"]["verified"], true);
    id
}

async fn role_in(app: &TestApp, organization: &str, email: &str) -> String {
    app.text(&format!(
        "SELECT coalesce((SELECT b.role FROM role_bindings b JOIN emails e ON e.user_id = b.user_id WHERE b.organization_id = '{organization}' AND e.address = '{email}'), '') AS t"
    ))
    .await
}

/// An invite to the default organization for `email`; returns its token.
async fn invite(app: &TestApp, root: &str, email: &str) -> String {
    let default = app.text("SELECT id::text AS t FROM organizations WHERE is_default").await;
    let body = app
        .gql(
            "mutation($o: Uuid!, $e: String!) { organizationInviteUser(organizationUuid: $o, email: $e) { invite { email } } }",
            json!({"o": default, "e": email}),
            Some(root),
        )
        .await;
    ok(&body);
    crate::grants::invite_token(app, email).await
}

async fn sign_up_invited(app: &TestApp, email: &str, token: &str) -> Value {
    app.gql(
        "mutation($e: String!, $t: String) { createUser(email: $e, password: \"correct horse battery\", inviteToken: $t) { user { id } } }",
        json!({"e": email, "t": token}),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_is_verified_only_by_its_txt_record() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (root, acme) = acme(&app).await;
    let claimed = claim(&app, &root, &acme, " Acme.TEST. ").await;
    let claimed = ok(&claimed)["claimOrganizationDomain"].clone();
    assert_eq!(claimed["domain"], "acme.test");
    assert_eq!(claimed["verified"], false);
    assert_eq!(claimed["recordName"], "_capcom-challenge.acme.test");
    let value = claimed["recordValue"].as_str().unwrap().to_owned();
    assert!(value.starts_with("capcom-domain-verification="), "{value}");
    let id = claimed["id"].as_str().unwrap().to_owned();

    // Claiming twice, or garbage, is refused.
    assert_eq!(error_code(&claim(&app, &root, &acme, "acme.test").await), "CONFLICT");
    let garbage = claim(&app, &root, &acme, "not a domain").await;
    assert_eq!(error_code(&garbage), "BAD_USER_INPUT");
    assert_eq!(garbage["errors"][0]["extensions"]["field"], "domain");

    // No record, or a record holding another value: refused, naming the record, and nothing changes.
    let before = app.access_snapshot().await;
    let refused = verify(&app, &root, &acme, &id).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("_capcom-challenge.acme.test"));
    app.dns.publish("_capcom-challenge.acme.test", "capcom-domain-verification=somebody-else");
    app.dns.publish("acme.test", &value);
    assert_eq!(error_code(&verify(&app, &root, &acme, &id).await), "BAD_USER_INPUT");
    assert_eq!(app.access_snapshot().await, before);
    assert_eq!(app.count("SELECT count(*) AS n FROM organization_domains WHERE verified_at IS NOT NULL").await, 0);

    // The right value at the right name verifies it, with one audit event.
    app.dns.publish("_capcom-challenge.acme.test", &value);
    let verified = verify(&app, &root, &acme, &id).await;
    assert_eq!(ok(&verified)["verifyOrganizationDomain"]["verified"], true);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'organization.domain.verify'").await,
        1
    );

    // Another organization can no longer claim it; the claim lists with its organization's domains.
    let other = app.gql("mutation { createOrganization(name: \"Other\") { id } }", json!({}), Some(&root)).await;
    let other = ok(&other)["createOrganization"]["id"].as_str().unwrap().to_owned();
    assert_eq!(error_code(&claim(&app, &root, &other, "acme.test").await), "CONFLICT");
    let listed = app
        .gql(
            "query($o: Uuid!) { organizationDomains(organizationUuid: $o) { domain verified } }",
            json!({"o": acme}),
            Some(&root),
        )
        .await;
    assert_eq!(ok(&listed)["organizationDomains"], json!([{"domain": "acme.test", "verified": true}]));
    let listed = app
        .gql(
            "query($o: Uuid!) { organizationDomains(organizationUuid: $o) { domain } }",
            json!({"o": other}),
            Some(&root),
        )
        .await;
    assert_eq!(ok(&listed)["organizationDomains"], json!([]));

    // Withdrawn, it can be claimed elsewhere.
    let deleted = app
        .gql(
            "mutation($o: Uuid!, $c: Uuid!) { deleteOrganizationDomain(organizationUuid: $o, domainUuid: $c) { domain } }",
            json!({"o": acme, "c": id}),
            Some(&root),
        )
        .await;
    assert_eq!(ok(&deleted)["deleteOrganizationDomain"]["domain"], "acme.test");
    assert!(ok(&claim(&app, &root, &other, "acme.test").await)["claimOrganizationDomain"]["id"].is_string());
    // A claim named under another organization is not found.
    let wrong = verify(&app, &root, &acme, &id).await;
    assert_eq!(error_code(&wrong), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_addresses_of_a_verified_domain_join_its_organization_as_members() {
    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (root, acme) = acme(&app).await;
    // Fill Acme's founding places, so that a domain join could not be mistaken for the founders' rule.
    assert_eq!(role_in(&app, &acme, "root@example.com").await, "ORGANIZATION_OWNER");

    // Bob's address was proven by an invite before the domain was verified: he joins at his next sign-in.
    let bob_invite = invite(&app, &root, "bob@acme.test").await;
    ok(&sign_up_invited(&app, "bob@acme.test", &bob_invite).await);
    assert_eq!(role_in(&app, &acme, "bob@acme.test").await, "");
    claim_and_verify(&app, &root, &acme, "acme.test").await;
    let signed_in = app.sign_in("bob@acme.test", PASSWORD).await;
    ok(&signed_in);
    assert_eq!(role_in(&app, &acme, "bob@acme.test").await, "ORGANIZATION_MEMBER");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'user.signIn' AND after->'joinedByDomain' IS NOT NULL").await,
        1
    );
    // Signing in again changes nothing.
    ok(&app.sign_in("bob@acme.test", PASSWORD).await);
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM role_bindings WHERE organization_id = '{acme}'")).await,
        2
    );

    // Carol signs up with an invite after the domain was verified: she joins at once, as a member (Acme
    // has fewer than three members, yet an address never makes anyone an owner).
    let carol_invite = invite(&app, &root, "carol@acme.test").await;
    ok(&sign_up_invited(&app, "carol@acme.test", &carol_invite).await);
    assert_eq!(role_in(&app, &acme, "carol@acme.test").await, "ORGANIZATION_MEMBER");

    // Dave signs up with a password only: his address is unproven, so he does not join Acme.
    app.sign_up("dave@acme.test", PASSWORD).await;
    assert_eq!(role_in(&app, &acme, "dave@acme.test").await, "");
    ok(&app.sign_in("dave@acme.test", PASSWORD).await);
    assert_eq!(role_in(&app, &acme, "dave@acme.test").await, "");
    // A look-alike domain joins nothing.
    let eve_invite = invite(&app, &root, "eve@sub.acme.test").await;
    ok(&sign_up_invited(&app, "eve@sub.acme.test", &eve_invite).await);
    assert_eq!(role_in(&app, &acme, "eve@sub.acme.test").await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_sign_ups_can_be_limited_to_verified_domains() {
    let app = TestApp::spawn_with(|config| {
        config.public_signups = true;
        config.public_signups_claimed_domains_only = true;
    })
    .await;
    // The installation's first user is always let in.
    let (root, acme) = acme(&app).await;
    let before = app.access_snapshot().await;
    let refused = app
        .gql(
            "mutation { createUser(email: \"x@acme.test\", password: \"correct horse battery\") { user { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "email");
    assert_eq!(app.access_snapshot().await, before);

    // A claim alone opens nothing; a verified one does.
    let claimed = claim(&app, &root, &acme, "acme.test").await;
    ok(&claimed);
    let again = app
        .gql(
            "mutation { createUser(email: \"x@acme.test\", password: \"correct horse battery\") { user { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT");
    app.dns.publish(
        claimed["data"]["claimOrganizationDomain"]["recordName"].as_str().unwrap(),
        claimed["data"]["claimOrganizationDomain"]["recordValue"].as_str().unwrap(),
    );
    let id = claimed["data"]["claimOrganizationDomain"]["id"].as_str().unwrap();
    ok(&verify(&app, &root, &acme, id).await);
    app.sign_up("x@acme.test", PASSWORD).await;
    // Other domains stay closed; invites still work for them.
    let other = app
        .gql(
            "mutation { createUser(email: \"y@elsewhere.test\", password: \"correct horse battery\") { user { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&other), "BAD_USER_INPUT");
    let token = invite(&app, &root, "y@elsewhere.test").await;
    ok(&sign_up_invited(&app, "y@elsewhere.test", &token).await);
    let config = app.gql("{ authConfig { publicSignup } }", json!({}), None).await;
    assert_eq!(ok(&config)["authConfig"]["publicSignup"], true);
}
