-- What a principal's packed bindings are made of (src/db/models/principal.rs) is versioned, so that a
-- process may keep them decoded and load them again only when they changed (docs/limits.md,
-- "Principals"). The authentication statement reads both numbers below in the same snapshot as the
-- caller's row; every change that could alter the packed bindings moves one of them in its own
-- transaction, through these triggers, whatever code path (cascades, SCIM, seeding) writes.
--
-- * users.authz_version, service_accounts.authz_version: moved by a change of a row that names the
--   principal itself (its own role bindings; a user's team memberships).
-- * authz_epoch.epoch: moved by a change of a row the packed bindings share between principals: a
--   team's bindings, a custom role's permissions or organization, an organization's IP access list, the
--   workspace of a deployment or the organization of a workspace.
--
-- Shared inputs move one number for everybody rather than the version of each principal they reach: a
-- trigger that fans out to the principals reached sees only committed memberships, so a team binding
-- removed while someone joins that team in a concurrent transaction would leave the joiner's version as
-- it was with the removed binding cached. One number read in the same snapshot has no such window.
-- These are rare administrative changes; each costs every principal one full load.
--
-- Every value comes from one sequence, so no value is ever used twice (a rolled-back change, a row
-- deleted and made again under the same id): an equal number always means the same content.
CREATE SEQUENCE authz_version_seq;

ALTER TABLE users ADD COLUMN authz_version bigint NOT NULL DEFAULT nextval('authz_version_seq');
ALTER TABLE service_accounts ADD COLUMN authz_version bigint NOT NULL DEFAULT nextval('authz_version_seq');

CREATE TABLE authz_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch bigint NOT NULL
);
INSERT INTO authz_epoch (epoch) VALUES (nextval('authz_version_seq'));

-- Every authentication reads the epoch row: without it every caller would be refused (INTERNAL) and every
-- move of the epoch would update nothing, silently. So the row cannot go: DELETE and TRUNCATE are refused
-- here, a second row by the singleton key, a null epoch by NOT NULL. Only DROP TABLE (down.sql) removes it.
CREATE FUNCTION authz_epoch_keep_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'authz_epoch keeps its one row (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER authz_epoch_no_delete BEFORE DELETE ON authz_epoch
    FOR EACH ROW EXECUTE FUNCTION authz_epoch_keep_row();
CREATE TRIGGER authz_epoch_no_truncate BEFORE TRUNCATE ON authz_epoch
    FOR EACH STATEMENT EXECUTE FUNCTION authz_epoch_keep_row();

-- Moves the versions of these users and service accounts, and the shared epoch when `shared`. Rows are
-- locked in id order first, so two transactions moving overlapping sets cannot deadlock on each other.
CREATE FUNCTION authz_move(user_ids uuid[], account_ids uuid[], shared boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(user_ids) > 0 THEN
        PERFORM 1 FROM users WHERE id = ANY (user_ids) ORDER BY id FOR NO KEY UPDATE;
        UPDATE users SET authz_version = nextval('authz_version_seq') WHERE id = ANY (user_ids);
    END IF;
    IF cardinality(account_ids) > 0 THEN
        PERFORM 1 FROM service_accounts WHERE id = ANY (account_ids) ORDER BY id FOR NO KEY UPDATE;
        UPDATE service_accounts SET authz_version = nextval('authz_version_seq') WHERE id = ANY (account_ids);
    END IF;
    IF shared THEN
        UPDATE authz_epoch SET epoch = nextval('authz_version_seq');
    END IF;
END
$$;

-- role_bindings: every column is an input (the principal, role, target, custom role), so any insert,
-- update or delete moves the principal named by the old and the new row: the user or service account
-- itself, or everybody (a team's binding, shared by its members). A statement that touched no row has
-- empty transition tables: empty arrays and no team, so it moves nothing.
CREATE FUNCTION role_bindings_move_authz() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM authz_move(
            ARRAY(SELECT DISTINCT user_id FROM new_rows WHERE user_id IS NOT NULL),
            ARRAY(SELECT DISTINCT service_account_id FROM new_rows WHERE service_account_id IS NOT NULL),
            EXISTS (SELECT 1 FROM new_rows WHERE team_id IS NOT NULL));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM authz_move(
            ARRAY(SELECT DISTINCT user_id FROM old_rows WHERE user_id IS NOT NULL),
            ARRAY(SELECT DISTINCT service_account_id FROM old_rows WHERE service_account_id IS NOT NULL),
            EXISTS (SELECT 1 FROM old_rows WHERE team_id IS NOT NULL));
    ELSE
        PERFORM authz_move(
            ARRAY(SELECT user_id FROM new_rows WHERE user_id IS NOT NULL
                  UNION SELECT user_id FROM old_rows WHERE user_id IS NOT NULL),
            ARRAY(SELECT service_account_id FROM new_rows WHERE service_account_id IS NOT NULL
                  UNION SELECT service_account_id FROM old_rows WHERE service_account_id IS NOT NULL),
            EXISTS (SELECT 1 FROM new_rows WHERE team_id IS NOT NULL)
                OR EXISTS (SELECT 1 FROM old_rows WHERE team_id IS NOT NULL));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER role_bindings_authz_insert AFTER INSERT ON role_bindings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION role_bindings_move_authz();
CREATE TRIGGER role_bindings_authz_update AFTER UPDATE ON role_bindings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION role_bindings_move_authz();
CREATE TRIGGER role_bindings_authz_delete AFTER DELETE ON role_bindings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION role_bindings_move_authz();

-- team_members: a membership decides which team bindings a user holds; it moves that user's version (no
-- user, nothing moved, for a statement that touched no row).
CREATE FUNCTION team_members_move_authz() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM authz_move(ARRAY(SELECT DISTINCT user_id FROM new_rows), '{}', false);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM authz_move(ARRAY(SELECT DISTINCT user_id FROM old_rows), '{}', false);
    ELSE
        PERFORM authz_move(ARRAY(SELECT user_id FROM new_rows UNION SELECT user_id FROM old_rows), '{}', false);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER team_members_authz_insert AFTER INSERT ON team_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_members_move_authz();
CREATE TRIGGER team_members_authz_update AFTER UPDATE ON team_members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_members_move_authz();
CREATE TRIGGER team_members_authz_delete AFTER DELETE ON team_members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION team_members_move_authz();

-- The shared inputs: the columns the packed query's joins read. A change of one of them moves the epoch.
CREATE FUNCTION authz_move_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz_move('{}', '{}', true);
    RETURN NULL;
END
$$;
-- A custom role's permissions, and the organization it must share with the binding's target.
CREATE TRIGGER custom_roles_authz_update AFTER UPDATE ON custom_roles FOR EACH ROW
    WHEN (OLD.permissions IS DISTINCT FROM NEW.permissions OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
          OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION authz_move_epoch();
-- An organization's IP access list (every binding in it carries the list).
CREATE TRIGGER organizations_authz_update AFTER UPDATE ON organizations FOR EACH ROW
    WHEN (OLD.ip_access_list IS DISTINCT FROM NEW.ip_access_list OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION authz_move_epoch();
-- Which organization a workspace belongs to (a workspace or deployment binding's list and custom role).
CREATE TRIGGER workspaces_authz_update AFTER UPDATE ON workspaces FOR EACH ROW
    WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION authz_move_epoch();
-- Which workspace a deployment belongs to (SPEC §1 says it never moves; the trigger does not rely on it).
CREATE TRIGGER deployments_authz_update AFTER UPDATE ON deployments FOR EACH ROW
    WHEN (OLD.workspace_id IS DISTINCT FROM NEW.workspace_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION authz_move_epoch();
-- Rows leaving: the bindings that name them go first or with them (foreign keys), which moves what they
-- reach already; the epoch moves as well, so nothing depends on that order. A statement-level trigger
-- fires for a statement that deleted nothing too (a delete of an id that is not there, each step of a
-- cascade that found no child): the transition table says whether rows went, and only then does the
-- epoch move, so a not-found delete costs no principal a load.
CREATE FUNCTION authz_move_epoch_if_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows) THEN
        PERFORM authz_move('{}', '{}', true);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER custom_roles_authz_delete AFTER DELETE ON custom_roles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_if_deleted();
CREATE TRIGGER organizations_authz_delete AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_if_deleted();
CREATE TRIGGER workspaces_authz_delete AFTER DELETE ON workspaces
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_if_deleted();
CREATE TRIGGER deployments_authz_delete AFTER DELETE ON deployments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_if_deleted();
-- TRUNCATE fires no row or transition-table trigger: it moves the epoch when the table held rows. The
-- trigger runs before the rows go (every table of the statement is locked ACCESS EXCLUSIVE by then, so
-- what it sees is what goes); an empty table's TRUNCATE moves nothing.
CREATE FUNCTION authz_move_epoch_unless_empty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held_rows boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO held_rows;
    IF held_rows THEN
        PERFORM authz_move('{}', '{}', true);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER role_bindings_authz_truncate BEFORE TRUNCATE ON role_bindings
    FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_unless_empty();
CREATE TRIGGER team_members_authz_truncate BEFORE TRUNCATE ON team_members
    FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_unless_empty();
CREATE TRIGGER custom_roles_authz_truncate BEFORE TRUNCATE ON custom_roles
    FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_unless_empty();
CREATE TRIGGER organizations_authz_truncate BEFORE TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_unless_empty();
CREATE TRIGGER workspaces_authz_truncate BEFORE TRUNCATE ON workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_unless_empty();
CREATE TRIGGER deployments_authz_truncate BEFORE TRUNCATE ON deployments
    FOR EACH STATEMENT EXECUTE FUNCTION authz_move_epoch_unless_empty();
