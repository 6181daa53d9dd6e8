// @generated automatically by Diesel CLI.

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        occurred_at -> Timestamptz,
        actor_user_id -> Nullable<Uuid>,
        actor_service_account_id -> Nullable<Uuid>,
        actor_label -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Uuid>,
        organization_id -> Nullable<Uuid>,
        workspace_id -> Nullable<Uuid>,
        deployment_id -> Nullable<Uuid>,
        request_id -> Nullable<Text>,
        client_address -> Nullable<Text>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
    }
}

diesel::table! {
    authz_epoch (singleton) {
        singleton -> Bool,
        epoch -> Int8,
    }
}

diesel::table! {
    cluster_workspaces (cluster_id, workspace_id) {
        cluster_id -> Uuid,
        workspace_id -> Uuid,
    }
}

diesel::table! {
    clusters (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        organization_id -> Nullable<Uuid>,
        restricted_to_workspaces -> Bool,
        base_domain -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        provider -> Text,
        region -> Text,
        namespaces -> Array<Text>,
    }
}

diesel::table! {
    custom_roles (id) {
        id -> Uuid,
        organization_id -> Uuid,
        scope -> Text,
        name -> Text,
        description -> Nullable<Text>,
        permissions -> Array<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deployments (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        cluster_id -> Uuid,
        label -> Text,
        description -> Text,
        release_name -> Text,
        namespace -> Text,
        version -> Text,
        airflow_version -> Text,
        runtime_version -> Nullable<Text>,
        desired_runtime_version -> Nullable<Text>,
        desired_airflow_version -> Nullable<Text>,
        executor -> Text,
        scheduler_size -> Text,
        scheduler_replicas -> Int4,
        worker_min -> Int4,
        worker_max -> Int4,
        worker_concurrency -> Int4,
        high_availability -> Bool,
        enforce_cicd -> Bool,
        dag_deploy_enabled -> Bool,
        triggerer_replicas -> Int4,
        config -> Jsonb,
        properties -> Jsonb,
        status -> Text,
        mode -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        deploy_revision -> Int4,
        deploy_image_tag -> Nullable<Text>,
        expires_at -> Nullable<Timestamptz>,
        is_development_mode -> Bool,
        hibernate_at_cron -> Nullable<Text>,
        wake_at_cron -> Nullable<Text>,
        hibernation_time_zone -> Nullable<Text>,
        hibernate_until -> Nullable<Timestamptz>,
        awake_until -> Nullable<Timestamptz>,
        is_hibernating -> Bool,
        hibernation_due_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    deploys (id) {
        id -> Uuid,
        deployment_id -> Uuid,
        kind -> Text,
        revision -> Int4,
        image_tag -> Nullable<Text>,
        image -> Nullable<Text>,
        bundle -> Nullable<Text>,
        description -> Text,
        deployed_by_user_id -> Nullable<Uuid>,
        deployed_by_service_account_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    emails (id) {
        id -> Uuid,
        user_id -> Uuid,
        address -> Text,
        verified -> Bool,
        is_primary -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    environment_variables (deployment_id, key) {
        deployment_id -> Uuid,
        key -> Text,
        is_secret -> Bool,
        value -> Nullable<Text>,
        secret_ciphertext -> Nullable<Bytea>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    external_identities (provider_id, subject) {
        provider_id -> Uuid,
        subject -> Text,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_sign_in_at -> Timestamptz,
    }
}

diesel::table! {
    identity_providers (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        display_name -> Text,
        issuer_url -> Text,
        client_id -> Text,
        scopes -> Text,
        email_claim -> Text,
        name_claim -> Text,
        groups_claim -> Nullable<Text>,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    installation (singleton) {
        singleton -> Bool,
        first_user_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invites (id) {
        id -> Uuid,
        email -> Text,
        scope -> Text,
        organization_id -> Nullable<Uuid>,
        workspace_id -> Nullable<Uuid>,
        role -> Nullable<Text>,
        deployment_roles -> Jsonb,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        invited_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        invited_by_service_account_id -> Nullable<Uuid>,
        custom_role_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    local_credentials (user_id) {
        user_id -> Uuid,
        password_hash -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    login_failures (scope, identity) {
        identity -> Text,
        failure_count -> Int4,
        window_started_at -> Timestamptz,
        scope -> Text,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Uuid,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    oidc_flows (state_hash) {
        state_hash -> Bytea,
        provider_id -> Uuid,
        browser_hash -> Bytea,
        nonce -> Text,
        pkce_verifier -> Text,
        redirect_to -> Text,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    organization_domains (id) {
        id -> Uuid,
        organization_id -> Uuid,
        domain -> Text,
        verification_value -> Text,
        verified_at -> Nullable<Timestamptz>,
        last_checked_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        is_default -> Bool,
        billing_email -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        description -> Text,
        billing_company -> Nullable<Text>,
        billing_plan -> Nullable<Text>,
        joins -> Int8,
        ip_access_list -> Array<Text>,
    }
}

diesel::table! {
    organization_removals (organization_id, user_id) {
        organization_id -> Uuid,
        user_id -> Uuid,
        removed_at -> Timestamptz,
    }
}

diesel::table! {
    role_bindings (id) {
        id -> Uuid,
        role -> Text,
        user_id -> Nullable<Uuid>,
        team_id -> Nullable<Uuid>,
        service_account_id -> Nullable<Uuid>,
        scope -> Text,
        organization_id -> Nullable<Uuid>,
        workspace_id -> Nullable<Uuid>,
        deployment_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        custom_role_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    scim_groups (team_id) {
        team_id -> Uuid,
        external_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    password_resets (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    scim_users (organization_id, user_id) {
        organization_id -> Uuid,
        user_id -> Uuid,
        external_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    service_accounts (id) {
        id -> Uuid,
        label -> Text,
        category -> Nullable<Text>,
        scope -> Text,
        organization_id -> Nullable<Uuid>,
        workspace_id -> Nullable<Uuid>,
        deployment_id -> Nullable<Uuid>,
        key_prefix -> Text,
        key_hash -> Bytea,
        active -> Bool,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        authz_version -> Int8,
    }
}

diesel::table! {
    sign_in_codes (code_hash) {
        code_hash -> Bytea,
        user_id -> Uuid,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    teams (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        full_name -> Nullable<Text>,
        status -> Text,
        profile -> Jsonb,
        tokens_valid_after -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        authz_version -> Int8,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Uuid,
        organization_id -> Uuid,
        label -> Text,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(cluster_workspaces -> clusters (cluster_id));
diesel::joinable!(cluster_workspaces -> workspaces (workspace_id));
diesel::joinable!(clusters -> organizations (organization_id));
diesel::joinable!(deployments -> clusters (cluster_id));
diesel::joinable!(deployments -> users (created_by));
diesel::joinable!(deployments -> workspaces (workspace_id));
diesel::joinable!(deploys -> deployments (deployment_id));
diesel::joinable!(deploys -> service_accounts (deployed_by_service_account_id));
diesel::joinable!(deploys -> users (deployed_by_user_id));
diesel::joinable!(emails -> users (user_id));
diesel::joinable!(environment_variables -> deployments (deployment_id));
diesel::joinable!(external_identities -> identity_providers (provider_id));
diesel::joinable!(external_identities -> users (user_id));
diesel::joinable!(identity_providers -> organizations (organization_id));
diesel::joinable!(invites -> organizations (organization_id));
diesel::joinable!(invites -> service_accounts (invited_by_service_account_id));
diesel::joinable!(invites -> users (invited_by));
diesel::joinable!(invites -> workspaces (workspace_id));
diesel::joinable!(local_credentials -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(oidc_flows -> identity_providers (provider_id));
diesel::joinable!(organization_domains -> organizations (organization_id));
diesel::joinable!(organization_domains -> users (created_by));
diesel::joinable!(organization_removals -> organizations (organization_id));
diesel::joinable!(organization_removals -> users (user_id));
diesel::joinable!(custom_roles -> organizations (organization_id));
diesel::joinable!(role_bindings -> custom_roles (custom_role_id));
diesel::joinable!(role_bindings -> deployments (deployment_id));
diesel::joinable!(role_bindings -> organizations (organization_id));
diesel::joinable!(role_bindings -> service_accounts (service_account_id));
diesel::joinable!(role_bindings -> teams (team_id));
diesel::joinable!(role_bindings -> workspaces (workspace_id));
diesel::joinable!(scim_groups -> teams (team_id));
diesel::joinable!(scim_users -> organizations (organization_id));
diesel::joinable!(scim_users -> users (user_id));
diesel::joinable!(service_accounts -> deployments (deployment_id));
diesel::joinable!(service_accounts -> organizations (organization_id));
diesel::joinable!(service_accounts -> users (created_by));
diesel::joinable!(service_accounts -> workspaces (workspace_id));
diesel::joinable!(sign_in_codes -> users (user_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(teams -> organizations (organization_id));
diesel::joinable!(workspaces -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    authz_epoch,
    cluster_workspaces,
    clusters,
    custom_roles,
    deployments,
    deploys,
    emails,
    environment_variables,
    external_identities,
    identity_providers,
    installation,
    invites,
    local_credentials,
    login_failures,
    mail_outbox,
    oidc_flows,
    organization_domains,
    organization_removals,
    organizations,
    role_bindings,
    scim_groups,
    password_resets,
    scim_users,
    service_accounts,
    sign_in_codes,
    team_members,
    teams,
    users,
    workspaces,
);
