// astro-day plays a day of an `astro` CLI user (Software mode) against capcom through the CLI's own
// client, `houston.ClientInterface`, calling each method the way the CLI's `apc` command packages do
// (through `houston.Call`, with the request values they build), and checks the decoded values the CLI
// relies on. The token and URL come from an astro config file written the way `astro login` writes it.
//
// Input (environment): HOME and ASTRO_HOME (a fresh folder for the config file), ASTRO_DAY_URL (capcom's
// base URL), ASTRO_DAY_EMAIL and ASTRO_DAY_PASSWORD (a system admin), ASTRO_DAY_CLUSTER (a cluster with
// the namespaces team-a, team-b, team-c, team-d in its pool), ASTRO_DAY_TEAM (a team holding the admin;
// with two more teams in the installation).
//
// Output: one line per ClientInterface method (PASS, FAIL with what came back, or SKIP with the reason);
// the exit status is 1 when a method failed or was never called.
package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/spf13/afero"

	"github.com/astronomer/astro-cli/config"
	"github.com/astronomer/astro-cli/context"
	"github.com/astronomer/astro-cli/houston"
)

var (
	called   = map[string]bool{}
	problems = map[string][]string{}
	skipped  = map[string]string{}
)

// check records a call of method and, when ok is false, what the CLI would have got wrong.
func check(method string, ok bool, format string, args ...interface{}) bool {
	called[method] = true
	if !ok {
		problems[method] = append(problems[method], fmt.Sprintf(format, args...))
	}
	return ok
}

// noErr records a call that must succeed.
func noErr(method string, err error) bool {
	return check(method, err == nil, "unexpected error: %v", err)
}

func env(name string) string {
	value := os.Getenv(name)
	if value == "" {
		fmt.Fprintf(os.Stderr, "astro-day: %s is not set\n", name)
		os.Exit(2)
	}
	return value
}

// workspaceRole is the CLI's getWorkspaceLevelRole: the role of the binding on that workspace.
func workspaceRole(bindings []houston.RoleBinding, workspaceID string) string {
	for i := range bindings {
		if bindings[i].Workspace.ID == workspaceID {
			return bindings[i].Role
		}
	}
	return houston.NoneRole
}

// deploymentRole is the CLI's role lookup for deployment users: the binding on that deployment.
func deploymentRole(bindings []houston.RoleBinding, deploymentID string) string {
	for i := range bindings {
		if bindings[i].Deployment.ID == deploymentID {
			return bindings[i].Role
		}
	}
	return houston.NoneRole
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, item := range items {
		out = append(out, id(item))
	}
	return out
}

func userIDs(users []houston.WorkspaceUserRoleBindings) []string {
	return ids(users, func(u houston.WorkspaceUserRoleBindings) string { return u.ID })
}

func teamIDs(teams []houston.Team) []string {
	return ids(teams, func(t houston.Team) string { return t.ID })
}

func same(a, b []string) bool {
	return reflect.DeepEqual(a, b) || (len(a) == 0 && len(b) == 0)
}

func contains(list []string, item string) bool {
	for _, x := range list {
		if x == item {
			return true
		}
	}
	return false
}

func main() {
	base := strings.TrimSuffix(env("ASTRO_DAY_URL"), "/")
	email, password := env("ASTRO_DAY_EMAIL"), env("ASTRO_DAY_PASSWORD")
	cluster, team := env("ASTRO_DAY_CLUSTER"), env("ASTRO_DAY_TEAM")
	env("ASTRO_HOME")

	// `astro config set -g local.houston <url>/v1` then `astro login localhost`: the context is written
	// to $ASTRO_HOME/.astro/config.yaml by the CLI's own config package.
	config.InitConfig(afero.NewOsFs())
	if err := config.CFG.LocalHouston.SetHomeString(base + "/v1"); err != nil {
		fatal("local.houston: %v", err)
	}
	ctx := config.Context{Domain: "localhost"}
	if err := ctx.SetContext(); err != nil {
		fatal("context: %v", err)
	}
	if err := ctx.SwitchContext(); err != nil {
		fatal("switch context: %v", err)
	}
	client := houston.NewClient(houston.NewHTTPClient())
	houston.HoustonClient = client

	version, err := houston.Call(client.GetPlatformVersion)(nil)
	if noErr("GetPlatformVersion", err) {
		check("GetPlatformVersion", version == "2.1.0", "version %q, want 2.1.0", version)
	}
	authConfig, err := houston.Call(client.GetAuthConfig)(&ctx)
	if noErr("GetAuthConfig", err) {
		check("GetAuthConfig", authConfig != nil && authConfig.LocalEnabled, "localEnabled false: %+v", authConfig)
		check("GetAuthConfig", authConfig != nil && authConfig.PublicSignup, "publicSignup false: %+v", authConfig)
	}
	_, err = houston.Call(client.AuthenticateWithBasicAuth)(houston.BasicAuthRequest{Username: email, Password: "wrong password", Ctx: &ctx})
	check("AuthenticateWithBasicAuth", err != nil && !strings.Contains(err.Error(), "Cannot query"), "a wrong password: %v", err)
	token, err := houston.Call(client.AuthenticateWithBasicAuth)(houston.BasicAuthRequest{Username: email, Password: password, Ctx: &ctx})
	if !noErr("AuthenticateWithBasicAuth", err) || token == "" {
		fatal("cannot sign in (%v): nothing else can be tried", err)
	}
	current, err := context.GetCurrentContext()
	if err != nil {
		fatal("current context: %v", err)
	}
	if err := current.SetContextKey("token", token); err != nil {
		fatal("saving the token: %v", err)
	}
	written, err := os.ReadFile(config.HomeConfigFile)
	check("AuthenticateWithBasicAuth", err == nil && strings.Contains(string(written), token), "the token is not in %s", config.HomeConfigFile)

	appConfig, err := houston.Call(client.GetAppConfig)(houston.GetAppConfigRequest{})
	if noErr("GetAppConfig", err) {
		check("GetAppConfig", appConfig.Version == "2.1.0", "version %q", appConfig.Version)
		check("GetAppConfig", appConfig.Flags.HardDeleteDeployment, "featureFlags.hardDeleteDeployment false: the CLI would not offer a hard delete")
		check("GetAppConfig", appConfig.Flags.AstroRuntimeEnabled && appConfig.Flags.TriggererEnabled, "flags %+v", appConfig.Flags)
		check("GetAppConfig", !appConfig.Flags.ManualNamespaceNames, "manualNamespaceNames without a cluster")
	}

	// `astro user create`: the people of the day.
	people := map[string]string{}
	for _, name := range []string{"bob", "carol", "erin"} {
		address := name + "@example.com"
		created, err := houston.Call(client.CreateUser)(houston.CreateUserRequest{Email: address, Password: "correct horse battery"})
		if noErr("CreateUser", err) && check("CreateUser", created != nil, "null answer") {
			check("CreateUser", created.User.ID != "" && created.Token.Value != "", "no id or token: %+v", created)
			check("CreateUser", created.User.Username == address, "username %q", created.User.Username)
			people[name] = created.User.ID
		}
	}

	// `astro workspace create / list / switch / update`.
	var workspaces []string
	for _, label := range []string{"Data", "Reports", "Sandbox"} {
		w, err := houston.Call(client.CreateWorkspace)(houston.CreateWorkspaceRequest{Label: label, Description: label + " work"})
		if noErr("CreateWorkspace", err) && check("CreateWorkspace", w != nil && w.Label == label, "answer %+v", w) {
			workspaces = append(workspaces, w.ID)
		}
	}
	if len(workspaces) != 3 {
		fatal("workspaces could not be created")
	}
	ws := workspaces[0]
	listed, err := houston.Call(client.ListWorkspaces)(nil)
	if noErr("ListWorkspaces", err) {
		all := ids(listed, func(w houston.Workspace) string { return w.ID })
		for _, id := range workspaces {
			check("ListWorkspaces", contains(all, id), "workspace %s missing from %v", id, all)
		}
		for i := range listed {
			admin := false
			for _, rb := range listed[i].RoleBindings {
				admin = admin || (rb.Role == houston.WorkspaceAdminRole && rb.User.Username == email)
			}
			check("ListWorkspaces", admin, "%s: the creator's WORKSPACE_ADMIN binding is missing: %+v", listed[i].Label, listed[i].RoleBindings)
		}
		// The CLI's workspace pager counts pages from 0 (login asks for page 0).
		page0, err0 := houston.Call(client.PaginatedListWorkspaces)(houston.PaginatedListWorkspaceRequest{PageSize: 2, PageNumber: 0})
		page1, err1 := houston.Call(client.PaginatedListWorkspaces)(houston.PaginatedListWorkspaceRequest{PageSize: 2, PageNumber: 1})
		if noErr("PaginatedListWorkspaces", err0) && noErr("PaginatedListWorkspaces", err1) {
			got := append(ids(page0, func(w houston.Workspace) string { return w.ID }), ids(page1, func(w houston.Workspace) string { return w.ID })...)
			check("PaginatedListWorkspaces", same(got, all), "pages 0 and 1 of 2 give %v, the list is %v", got, all)
		}
	}
	got, err := houston.Call(client.GetWorkspace)(ws)
	if noErr("GetWorkspace", err) {
		check("GetWorkspace", got.ID == ws && got.Label == "Data", "answer %+v", got)
	}
	missing := "5f0c1e4a-0000-4000-8000-000000000000"
	_, err = houston.Call(client.GetWorkspace)(missing)
	var notFound houston.ErrWorkspaceNotFound
	check("GetWorkspace", errors.As(err, &notFound), "a missing workspace gives %v, the CLI expects its own 'no workspaces with id' error", err)
	_, err = houston.Call(client.ValidateWorkspaceID)(ws)
	noErr("ValidateWorkspaceID", err)
	_, err = houston.Call(client.ValidateWorkspaceID)(missing)
	check("ValidateWorkspaceID", errors.As(err, &notFound), "a missing workspace gives %v", err)
	updated, err := houston.Call(client.UpdateWorkspace)(houston.UpdateWorkspaceRequest{WorkspaceID: ws, Args: map[string]string{"label": "Data Team", "description": "ETL"}})
	if noErr("UpdateWorkspace", err) {
		check("UpdateWorkspace", updated.Label == "Data Team" && updated.Description == "ETL", "answer %+v", updated)
	}

	// `astro workspace user add / update / list`.
	for _, name := range []string{"bob", "carol", "erin"} {
		w, err := houston.Call(client.AddWorkspaceUser)(houston.AddWorkspaceUserRequest{WorkspaceID: ws, Email: name + "@example.com", Role: houston.WorkspaceViewerRole})
		if noErr("AddWorkspaceUser", err) {
			usernames := ids(w.Users, func(u houston.User) string { return u.Username })
			check("AddWorkspaceUser", contains(usernames, name+"@example.com"), "%s not among the users %v", name, usernames)
		}
	}
	role, err := houston.Call(client.UpdateWorkspaceUserRole)(houston.UpdateWorkspaceUserRoleRequest{WorkspaceID: ws, Email: "bob@example.com", Role: houston.WorkspaceEditorRole})
	if noErr("UpdateWorkspaceUserRole", err) {
		check("UpdateWorkspaceUserRole", role == houston.WorkspaceEditorRole, "answer %q", role)
	}
	bob, err := houston.Call(client.GetWorkspaceUserRole)(houston.GetWorkspaceUserRoleRequest{WorkspaceID: ws, Email: "bob@example.com"})
	if noErr("GetWorkspaceUserRole", err) {
		check("GetWorkspaceUserRole", workspaceRole(bob.RoleBindings, ws) == houston.WorkspaceEditorRole, "the CLI picks %q from %+v", workspaceRole(bob.RoleBindings, ws), bob.RoleBindings)
	}
	members, err := houston.Call(client.ListWorkspaceUserAndRoles)(ws)
	if noErr("ListWorkspaceUserAndRoles", err) {
		check("ListWorkspaceUserAndRoles", len(members) == 4, "%d members, want 4", len(members))
		for _, m := range members {
			want := houston.WorkspaceViewerRole
			switch m.Username {
			case email:
				want = houston.WorkspaceAdminRole
			case "bob@example.com":
				want = houston.WorkspaceEditorRole
			}
			check("ListWorkspaceUserAndRoles", workspaceRole(m.RoleBindings, ws) == want, "%s: the CLI shows %q, want %q", m.Username, workspaceRole(m.RoleBindings, ws), want)
		}
	}
	// The pager: forwards, forwards, back (negative take from the first row), as the CLI's prompt does.
	page := func(cursor string, take int) []string {
		users, err := houston.Call(client.ListWorkspacePaginatedUserAndRoles)(houston.PaginatedWorkspaceUserRolesRequest{WorkspaceID: ws, CursorID: cursor, Take: float64(take)})
		noErr("ListWorkspacePaginatedUserAndRoles", err)
		return userIDs(users)
	}
	first := page("", 2)
	if check("ListWorkspacePaginatedUserAndRoles", len(first) == 2, "first page %v", first) {
		second := page(first[1], 2)
		if check("ListWorkspacePaginatedUserAndRoles", len(second) == 2, "second page %v", second) {
			check("ListWorkspacePaginatedUserAndRoles", same(append(append([]string{}, first...), second...), userIDs(members)), "pages %v %v, list %v", first, second, userIDs(members))
			back := page(second[0], -2)
			check("ListWorkspacePaginatedUserAndRoles", same(back, first), "back from %s gives %v, want %v", second[0], back, first)
			end := page(second[1], 2)
			check("ListWorkspacePaginatedUserAndRoles", len(end) == 0, "past the end gives %v", end)
		}
	}

	// `astro deployment create`: the catalogue, the cluster's namespaces, then three deployments.
	releases, err := houston.Call(client.GetRuntimeReleases)(map[string]interface{}{"airflowVersion": "", "clusterId": cluster})
	if noErr("GetRuntimeReleases", err) {
		check("GetRuntimeReleases", releases.IsValidVersion("11.7.0") && releases.IsValidVersion("12.4.0"), "catalogue %+v", releases)
		check("GetRuntimeReleases", contains(releases.GreaterVersions("11.7.0"), "12.4.0"), "upgrades from 11.7.0: %v", releases.GreaterVersions("11.7.0"))
	}
	_, err = houston.Call(client.GetDeploymentConfig)(nil)
	noErr("GetDeploymentConfig", err)
	clusterConfig, err := houston.Call(client.GetAppConfig)(houston.GetAppConfigRequest{ClusterID: cluster, WorkspaceUUID: ws})
	if noErr("GetAppConfig", err) {
		check("GetAppConfig", clusterConfig.Flags.ManualNamespaceNames, "manualNamespaceNames false for a cluster with a pool")
	}
	names, err := houston.Call(client.GetAvailableNamespaces)(map[string]interface{}{"clusterID": cluster})
	if noErr("GetAvailableNamespaces", err) {
		free := ids(names, func(n houston.Namespace) string { return n.Name })
		check("GetAvailableNamespaces", same(free, []string{"team-a", "team-b", "team-c", "team-d"}), "free namespaces %v", free)
	}
	deployments := map[string]*houston.Deployment{}
	for i, label := range []string{"etl", "reports", "ml"} {
		executor := houston.CeleryExecutorType
		if label == "ml" {
			executor = houston.KubernetesExecutorType
		}
		vars := map[string]interface{}{"label": label, "workspaceId": ws, "executor": executor, "cloudRole": ""}
		vars["clusterId"] = cluster
		vars["namespace"] = []string{"team-a", "team-b", "team-c"}[i]
		vars["runtimeVersion"] = "11.7.0"
		vars["dagDeployment"] = map[string]interface{}{"type": houston.ImageDeploymentType}
		vars["triggererReplicas"] = 1
		d, err := houston.Call(client.CreateDeployment)(vars)
		if !noErr("CreateDeployment", err) || !check("CreateDeployment", d != nil, "null answer") {
			continue
		}
		deployments[label] = d
		check("CreateDeployment", d.Label == label && d.ReleaseName != "" && d.RuntimeVersion == "11.7.0", "answer %+v", d)
		check("CreateDeployment", !d.CreatedAt.IsZero(), "no createdAt")
		urls := ids(d.Urls, func(u houston.DeploymentURL) string { return u.Type })
		check("CreateDeployment", contains(urls, houston.AirflowURLType), "no airflow URL: %v", urls)
		check("CreateDeployment", contains(urls, "flower") == (executor == houston.CeleryExecutorType), "%s: URLs %v", executor, urls)
	}
	etl := deployments["etl"]
	if etl == nil || deployments["reports"] == nil || deployments["ml"] == nil {
		fatal("deployments could not be created")
	}
	inWorkspace, err := houston.Call(client.ListDeployments)(houston.ListDeploymentsRequest{WorkspaceID: ws})
	if noErr("ListDeployments", err) {
		check("ListDeployments", len(inWorkspace) == 3, "%d deployments, want 3", len(inWorkspace))
		for _, d := range inWorkspace {
			check("ListDeployments", d.DeploymentInfo.NextCli == "deploy-1" && d.DeploymentInfo.Current == "", "%s: deployInfo %+v before any deploy", d.Label, d.DeploymentInfo)
			check("ListDeployments", d.Workspace.ID == ws && d.ClusterID == cluster, "%s: workspace %q cluster %q", d.Label, d.Workspace.ID, d.ClusterID)
		}
	}
	// `astro deployment list --all`: take -1, no cursor: every deployment the caller may read.
	everywhere, err := houston.Call(client.ListPaginatedDeployments)(houston.PaginatedDeploymentsRequest{Take: -1, ClusterID: cluster})
	if noErr("ListPaginatedDeployments", err) {
		check("ListPaginatedDeployments", len(everywhere) == 3, "`list --all` shows %d deployments, want 3", len(everywhere))
	}
	one, err := houston.Call(client.GetDeployment)(etl.ID)
	if noErr("GetDeployment", err) {
		check("GetDeployment", one.ID == etl.ID && one.ReleaseName == etl.ReleaseName && one.ClusterID == cluster, "answer %+v", one)
		check("GetDeployment", one.RuntimeVersion == "11.7.0" && one.RuntimeAirflowVersion != "", "versions %q %q", one.RuntimeVersion, one.RuntimeAirflowVersion)
		check("GetDeployment", one.DagDeployment.Type == houston.ImageDeploymentType, "dagDeployment %+v", one.DagDeployment)
	}
	renamed, err := houston.Call(client.UpdateDeployment)(map[string]interface{}{
		"deploymentId": etl.ID, "payload": map[string]string{"label": "etl-nightly"}, "cloudRole": "",
		"executor": houston.CeleryExecutorType, "dagDeployment": map[string]interface{}{"type": houston.DagOnlyDeploymentType}, "triggererReplicas": 1,
	})
	if noErr("UpdateDeployment", err) {
		check("UpdateDeployment", renamed.Label == "etl-nightly" && renamed.ID == etl.ID, "answer %+v", renamed)
	}
	upgrade, err := houston.Call(client.UpdateDeploymentRuntime)(map[string]interface{}{"deploymentUuid": etl.ID, "desiredRuntimeVersion": "12.4.0"})
	if noErr("UpdateDeploymentRuntime", err) {
		check("UpdateDeploymentRuntime", upgrade.DesiredRuntimeVersion == "12.4.0" && upgrade.RuntimeVersion == "11.7.0", "answer %+v", upgrade)
	}
	_, err = houston.Call(client.UpdateDeploymentRuntime)(map[string]interface{}{"deploymentUuid": etl.ID, "desiredRuntimeVersion": "10.0.0"})
	check("UpdateDeploymentRuntime", err != nil && err.Error() != "", "a downgrade was accepted")
	cancelled, err := houston.Call(client.CancelUpdateDeploymentRuntime)(map[string]interface{}{"deploymentUuid": etl.ID})
	if noErr("CancelUpdateDeploymentRuntime", err) {
		check("CancelUpdateDeploymentRuntime", cancelled.DesiredRuntimeVersion == "" && cancelled.RuntimeVersion == "11.7.0", "answer %+v", cancelled)
	}
	airflow, err := houston.Call(client.UpdateDeploymentAirflow)(map[string]interface{}{"deploymentId": etl.ID, "desiredAirflowVersion": "2.10.3"})
	if noErr("UpdateDeploymentAirflow", err) {
		check("UpdateDeploymentAirflow", airflow.DesiredAirflowVersion == "2.10.3", "answer %+v", airflow)
	}
	// `astro deploy`: an image of the running runtime.
	_, err = houston.Call(client.UpdateDeploymentImage)(houston.UpdateDeploymentImageRequest{ReleaseName: etl.ReleaseName, Image: "registry.example.com/" + etl.ReleaseName + "/airflow:deploy-1", RuntimeVersion: "11.7.0"})
	noErr("UpdateDeploymentImage", err)
	after, err := houston.Call(client.ListDeployments)(houston.ListDeploymentsRequest{WorkspaceID: ws, ReleaseName: etl.ReleaseName})
	if noErr("ListDeployments", err) && check("ListDeployments", len(after) == 1, "by release name: %d", len(after)) {
		check("UpdateDeploymentImage", after[0].DeploymentInfo.Current == "deploy-1" && after[0].DeploymentInfo.NextCli == "deploy-2", "deployInfo after the deploy %+v", after[0].DeploymentInfo)
	}
	_, err = houston.Call(client.ListDeploymentLogs)(houston.ListDeploymentLogsRequest{DeploymentID: etl.ID, Component: "scheduler", Timestamp: time.Now().Add(-time.Hour)})
	check("ListDeploymentLogs", err != nil && strings.Contains(err.Error(), "log") && !strings.Contains(err.Error(), "Cannot query"), "capcom keeps no logs: the CLI should print a clear error, got %v", err)

	// `astro deployment user add / update / list / remove`.
	added, err := houston.Call(client.AddDeploymentUser)(houston.UpdateDeploymentUserRequest{Email: "bob@example.com", Role: houston.DeploymentViewerRole, DeploymentID: etl.ID})
	if noErr("AddDeploymentUser", err) {
		check("AddDeploymentUser", added.Role == houston.DeploymentViewerRole && added.Deployment.ID == etl.ID, "answer %+v", added)
	}
	changed, err := houston.Call(client.UpdateDeploymentUser)(houston.UpdateDeploymentUserRequest{Email: "bob@example.com", Role: houston.DeploymentEditorRole, DeploymentID: etl.ID})
	if noErr("UpdateDeploymentUser", err) {
		check("UpdateDeploymentUser", changed.Role == houston.DeploymentEditorRole && changed.Deployment.ReleaseName == etl.ReleaseName, "answer %+v", changed)
	}
	dUsers, err := houston.Call(client.ListDeploymentUsers)(houston.ListDeploymentUsersRequest{DeploymentID: etl.ID})
	if noErr("ListDeploymentUsers", err) {
		roles := map[string]string{}
		for _, u := range dUsers {
			roles[u.Username] = deploymentRole(u.RoleBindings, etl.ID)
		}
		check("ListDeploymentUsers", roles["bob@example.com"] == houston.DeploymentEditorRole && roles[email] == houston.DeploymentAdminRole, "roles %v", roles)
	}
	found, err := houston.Call(client.ListDeploymentUsers)(houston.ListDeploymentUsersRequest{DeploymentID: etl.ID, Email: "bob@"})
	if noErr("ListDeploymentUsers", err) {
		check("ListDeploymentUsers", len(found) == 1 && found[0].Username == "bob@example.com", "search by email %+v", found)
	}
	removed, err := houston.Call(client.DeleteDeploymentUser)(houston.DeleteDeploymentUserRequest{DeploymentID: etl.ID, Email: "bob@example.com"})
	if noErr("DeleteDeploymentUser", err) {
		check("DeleteDeploymentUser", removed.Role == houston.DeploymentEditorRole, "answer %+v", removed)
	}

	// `astro workspace sa` and `astro deployment sa`.
	wsa, err := houston.Call(client.CreateWorkspaceServiceAccount)(&houston.CreateServiceAccountRequest{WorkspaceID: ws, Label: "ci", Category: "", Role: houston.WorkspaceEditorRole})
	if noErr("CreateWorkspaceServiceAccount", err) {
		check("CreateWorkspaceServiceAccount", wsa.APIKey != "" && wsa.WorkspaceUUID == ws && wsa.Active, "answer %+v", wsa)
		accounts, err := houston.Call(client.ListWorkspaceServiceAccounts)(ws)
		if noErr("ListWorkspaceServiceAccounts", err) {
			listedIDs := ids(accounts, func(a houston.ServiceAccount) string { return a.ID })
			check("ListWorkspaceServiceAccounts", same(listedIDs, []string{wsa.ID}), "accounts %v", listedIDs)
			check("ListWorkspaceServiceAccounts", len(accounts) == 1 && accounts[0].APIKey != wsa.APIKey, "the full key is shown again")
		}
		gone, err := houston.Call(client.DeleteWorkspaceServiceAccount)(houston.DeleteServiceAccountRequest{ServiceAccountID: wsa.ID, WorkspaceID: ws})
		if noErr("DeleteWorkspaceServiceAccount", err) {
			check("DeleteWorkspaceServiceAccount", gone.ID == wsa.ID && gone.Label == "ci", "answer %+v", gone)
		}
	}
	dsa, err := houston.Call(client.CreateDeploymentServiceAccount)(&houston.CreateServiceAccountRequest{DeploymentID: etl.ID, Label: "deployer", Category: "", Role: houston.DeploymentEditorRole})
	if noErr("CreateDeploymentServiceAccount", err) {
		check("CreateDeploymentServiceAccount", dsa.APIKey != "" && dsa.DeploymentUUID == etl.ID, "answer %+v", dsa)
		accounts, err := houston.Call(client.ListDeploymentServiceAccounts)(etl.ID)
		if noErr("ListDeploymentServiceAccounts", err) {
			listedIDs := ids(accounts, func(a houston.ServiceAccount) string { return a.ID })
			check("ListDeploymentServiceAccounts", same(listedIDs, []string{dsa.ID}), "accounts %v", listedIDs)
		}
		gone, err := houston.Call(client.DeleteDeploymentServiceAccount)(houston.DeleteServiceAccountRequest{DeploymentID: etl.ID, ServiceAccountID: dsa.ID})
		if noErr("DeleteDeploymentServiceAccount", err) {
			check("DeleteDeploymentServiceAccount", gone.ID == dsa.ID, "answer %+v", gone)
		}
	}

	// `astro team`, `astro workspace team`, `astro deployment team`.
	shown, err := houston.Call(client.GetTeam)(team)
	if noErr("GetTeam", err) {
		check("GetTeam", shown != nil && shown.ID == team && shown.Name == "Analysts", "answer %+v", shown)
	}
	teamUsers, err := houston.Call(client.GetTeamUsers)(team)
	if noErr("GetTeamUsers", err) {
		check("GetTeamUsers", len(teamUsers) == 1 && teamUsers[0].Username == email, "members %+v", teamUsers)
	}
	var teams []houston.Team
	count := -1
	cursor := ""
	for round := 0; (len(teams) < count || count == -1) && round < 10; round++ { // the CLI's `team list` loop, in pages of 2
		resp, err := houston.Call(client.ListTeams)(houston.ListTeamsRequest{Take: 2, Cursor: cursor})
		if !noErr("ListTeams", err) {
			break
		}
		count = resp.Count
		teams = append(teams, resp.Teams...)
		if count > 0 && len(teams) > 0 {
			cursor = teams[len(teams)-1].ID
		}
	}
	if check("ListTeams", count == 3 && len(teams) == 3, "count %d, walked %d", count, len(teams)) {
		back, err := houston.Call(client.ListTeams)(houston.ListTeamsRequest{Take: -2, Cursor: teams[2].ID})
		if noErr("ListTeams", err) {
			check("ListTeams", same(teamIDs(back.Teams), teamIDs(teams[:2])), "back from the third team: %v", teamIDs(back.Teams))
		}
	}
	inWs, err := houston.Call(client.AddWorkspaceTeam)(houston.AddWorkspaceTeamRequest{WorkspaceID: ws, TeamID: team, Role: houston.WorkspaceViewerRole})
	if noErr("AddWorkspaceTeam", err) {
		check("AddWorkspaceTeam", inWs.ID == ws, "answer %+v", inWs)
	}
	teamRole, err := houston.Call(client.UpdateWorkspaceTeamRole)(houston.UpdateWorkspaceTeamRoleRequest{WorkspaceID: ws, TeamID: team, Role: houston.WorkspaceEditorRole})
	if noErr("UpdateWorkspaceTeamRole", err) {
		check("UpdateWorkspaceTeamRole", teamRole == houston.WorkspaceEditorRole, "answer %q", teamRole)
	}
	wsTeams, err := houston.Call(client.ListWorkspaceTeamsAndRoles)(ws)
	if noErr("ListWorkspaceTeamsAndRoles", err) {
		check("ListWorkspaceTeamsAndRoles", len(wsTeams) == 1 && wsTeams[0].ID == team && workspaceRole(wsTeams[0].RoleBindings, ws) == houston.WorkspaceEditorRole, "teams %+v", wsTeams)
	}
	wsTeam, err := houston.Call(client.GetWorkspaceTeamRole)(houston.GetWorkspaceTeamRoleRequest{WorkspaceID: ws, TeamID: team})
	if noErr("GetWorkspaceTeamRole", err) {
		check("GetWorkspaceTeamRole", wsTeam != nil && workspaceRole(wsTeam.RoleBindings, ws) == houston.WorkspaceEditorRole, "answer %+v", wsTeam)
	}
	ml := deployments["ml"]
	_, err = houston.Call(client.AddDeploymentTeam)(houston.AddDeploymentTeamRequest{DeploymentID: ml.ID, TeamID: team, Role: houston.DeploymentViewerRole})
	noErr("AddDeploymentTeam", err)
	dTeam, err := houston.Call(client.UpdateDeploymentTeamRole)(houston.UpdateDeploymentTeamRequest{DeploymentID: ml.ID, TeamID: team, Role: houston.DeploymentEditorRole})
	if noErr("UpdateDeploymentTeamRole", err) {
		check("UpdateDeploymentTeamRole", dTeam.Role == houston.DeploymentEditorRole, "answer %+v", dTeam)
	}
	dTeams, err := houston.Call(client.ListDeploymentTeamsAndRoles)(ml.ID)
	if noErr("ListDeploymentTeamsAndRoles", err) {
		check("ListDeploymentTeamsAndRoles", len(dTeams) == 1 && deploymentRole(dTeams[0].RoleBindings, ml.ID) == houston.DeploymentEditorRole, "teams %+v", dTeams)
	}
	_, err = houston.Call(client.RemoveDeploymentTeam)(houston.RemoveDeploymentTeamRequest{DeploymentID: ml.ID, TeamID: team})
	noErr("RemoveDeploymentTeam", err)
	systemRole, err := houston.Call(client.CreateTeamSystemRoleBinding)(houston.SystemRoleBindingRequest{TeamID: team, Role: houston.SystemViewerRole})
	if noErr("CreateTeamSystemRoleBinding", err) {
		check("CreateTeamSystemRoleBinding", systemRole == houston.SystemViewerRole, "answer %q", systemRole)
	}
	systemRole, err = houston.Call(client.DeleteTeamSystemRoleBinding)(houston.SystemRoleBindingRequest{TeamID: team, Role: houston.SystemViewerRole})
	if noErr("DeleteTeamSystemRoleBinding", err) {
		check("DeleteTeamSystemRoleBinding", systemRole == houston.SystemViewerRole, "answer %q", systemRole)
	}
	left, err := houston.Call(client.DeleteWorkspaceTeam)(houston.DeleteWorkspaceTeamRequest{WorkspaceID: ws, TeamID: team})
	if noErr("DeleteWorkspaceTeam", err) {
		check("DeleteWorkspaceTeam", left.ID == ws, "answer %+v", left)
	}

	// `astro deployment adopt / unadopt`.
	adopted, err := houston.Call(client.AdoptDeployment)(&houston.AdoptDeploymentRequest{WorkspaceID: ws, ClusterID: cluster, CRNamespace: "team-d", CRName: "legacy-airflow", UseApcRegistry: true})
	if noErr("AdoptDeployment", err) {
		check("AdoptDeployment", adopted.ReleaseName == "legacy-airflow" && adopted.Namespace == "team-d" && adopted.Workspace.ID == ws, "answer %+v", adopted)
		released, err := houston.Call(client.UnadoptDeployment)(houston.UnadoptDeploymentRequest{DeploymentID: adopted.ID})
		if noErr("UnadoptDeployment", err) {
			check("UnadoptDeployment", released.ReleaseName == "legacy-airflow", "answer %+v", released)
		}
	}

	// Errors as the CLI prints them: another person's refused delete, then a token that is no good.
	erinToken, err := houston.Call(client.AuthenticateWithBasicAuth)(houston.BasicAuthRequest{Username: "erin@example.com", Password: "correct horse battery", Ctx: &ctx})
	if noErr("AuthenticateWithBasicAuth", err) {
		setToken(erinToken)
		_, err = houston.Call(client.DeleteDeployment)(houston.DeleteDeploymentRequest{DeploymentID: etl.ID, HardDelete: true})
		check("DeleteDeployment", err != nil && err.Error() == "Access is Denied", "a workspace viewer's delete: %v", err)
		setToken("not-a-token")
		_, err = houston.Call(client.ListWorkspaces)(nil)
		check("ListWorkspaces", err != nil && err.Error() == "Your token has expired or is invalid. Please log in again.", "a bad token: %v", err)
		setToken(token)
	}

	// The end of the day: the workspace cannot go while it has deployments; `astro deployment delete`
	// (a hard delete, as every current CLI sends) removes them; the workspace goes.
	_, err = houston.Call(client.DeleteWorkspace)(ws)
	check("DeleteWorkspace", err != nil && strings.Contains(strings.ToLower(err.Error()), "deployment"), "deleting a workspace with deployments: %v", err)
	for _, label := range []string{"etl", "reports", "ml"} {
		d := deployments[label]
		_, err := houston.Call(client.DeleteDeployment)(houston.DeleteDeploymentRequest{DeploymentID: d.ID, HardDelete: label != "ml"})
		noErr("DeleteDeployment", err)
	}
	ghost, err := houston.Call(client.GetDeployment)(etl.ID)
	if noErr("GetDeployment", err) {
		check("GetDeployment", ghost.ID == "", "a deleted deployment reads as %+v", ghost)
	}
	_, err = houston.Call(client.DeleteDeployment)(houston.DeleteDeploymentRequest{DeploymentID: etl.ID, HardDelete: true})
	check("DeleteDeployment", err != nil && err.Error() == "The requested resource was not found", "deleting it again: %v", err)
	out, err := houston.Call(client.DeleteWorkspaceUser)(houston.DeleteWorkspaceUserRequest{WorkspaceID: ws, UserID: people["carol"]})
	if noErr("DeleteWorkspaceUser", err) {
		usernames := ids(out.Users, func(u houston.User) string { return u.Username })
		check("DeleteWorkspaceUser", !contains(usernames, "carol@example.com") && contains(usernames, "bob@example.com"), "users after %v", usernames)
	}
	for _, id := range workspaces {
		deleted, err := houston.Call(client.DeleteWorkspace)(id)
		if noErr("DeleteWorkspace", err) {
			check("DeleteWorkspace", deleted.ID == id, "answer %+v", deleted)
		}
	}
	_, err = houston.Call(client.GetWorkspace)(ws)
	check("GetWorkspace", errors.As(err, &notFound), "a deleted workspace gives %v", err)

	os.Exit(report())
}

// setToken stores a token in the current context, as `astro login` does.
func setToken(token string) {
	current, err := context.GetCurrentContext()
	if err == nil {
		err = current.SetContextKey("token", token)
	}
	if err != nil {
		fatal("saving a token: %v", err)
	}
}

// report prints one line per method of houston.ClientInterface and returns the exit status.
func report() int {
	status := 0
	methods := reflect.TypeOf((*houston.ClientInterface)(nil)).Elem()
	var names []string
	for i := 0; i < methods.NumMethod(); i++ {
		names = append(names, methods.Method(i).Name)
	}
	sort.Strings(names)
	passed := 0
	for _, name := range names {
		switch {
		case skipped[name] != "":
			fmt.Printf("SKIP %s: %s\n", name, skipped[name])
		case len(problems[name]) > 0:
			status = 1
			fmt.Printf("FAIL %s: %s\n", name, strings.Join(problems[name], "; "))
		case !called[name]:
			status = 1
			fmt.Printf("FAIL %s: never called\n", name)
		default:
			passed++
			fmt.Printf("PASS %s\n", name)
		}
	}
	fmt.Printf("%d of %d ClientInterface methods behaved as the CLI expects\n", passed, len(names))
	return status
}

func fatal(format string, args ...interface{}) {
	fmt.Printf("FATAL "+format+"\n", args...)
	report()
	os.Exit(1)
}
