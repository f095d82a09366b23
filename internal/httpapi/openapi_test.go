package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/queue"
)

// openapiDoc is the part of the OpenAPI document the tests check.
type openapiDoc struct {
	OpenAPI    string                                 `yaml:"openapi"`
	Security   []map[string][]string                  `yaml:"security"`
	Paths      map[string]map[string]openapiOperation `yaml:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `yaml:"type"`
			Scheme string `yaml:"scheme"`
		} `yaml:"securitySchemes"`
		Schemas map[string]struct {
			Enum []string `yaml:"enum"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

type openapiOperation struct {
	OperationID string                 `yaml:"operationId"`
	Scope       []string               `yaml:"x-flexlabel-scope"`
	Security    *[]map[string][]string `yaml:"security"`
	Responses   map[string]any         `yaml:"responses"`
	Parameters  []map[string]any       `yaml:"parameters"`
}

func loadOpenAPI(t *testing.T) openapiDoc {
	t.Helper()
	b, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var doc openapiDoc
	require.NoError(t, yaml.Unmarshal(b, &doc))
	return doc
}

// TestOpenAPI_DocumentsEveryRoute_AndOnlyThose checks the route table
// against openapi.yaml both ways, and the mux against the table.
func TestOpenAPI_DocumentsEveryRoute_AndOnlyThose(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	require.Equal(t, "3.1.0", doc.OpenAPI)
	e := newEnv(t)
	routes := httpapi.RoutesForTest(e.h)
	require.NotEmpty(t, routes)

	documented := map[string]openapiOperation{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	for r := range routes {
		_, ok := documented[r]
		require.True(t, ok, "served but not documented: %s", r)
	}
	ids := map[string]bool{}
	for r, op := range documented {
		scopes, served := routes[r]
		require.True(t, served, "documented but not served: %s", r)
		public := slices.Equal(scopes, []auth.Scope{auth.Public})
		// The document says the scopes the route table enforces.
		want := make([]string, len(scopes))
		for i, s := range scopes {
			want[i] = string(s)
		}
		require.Equal(t, want, op.Scope, "x-flexlabel-scope of %s", r)
		require.NotEmpty(t, op.OperationID, r)
		require.False(t, ids[op.OperationID], "operationId %s used twice", op.OperationID)
		ids[op.OperationID] = true
		require.NotEmpty(t, op.Responses, r)
		// Public exactly when the document says no security.
		require.Equal(t, public, op.Security != nil && len(*op.Security) == 0, "security of %s", r)
		if !public {
			require.Contains(t, op.Responses, "401", r)
			require.Equal(t, map[string]any{"$ref": "#/components/responses/Forbidden"}, op.Responses["403"], r)
		}

		// Path parameters are declared.
		method, path, _ := strings.Cut(r, " ")
		if method != http.MethodGet {
			require.Contains(t, op.Responses, "415", "%s refuses form content types", r)
		}
		if strings.Contains(path, "{key}") {
			require.Contains(t, op.Parameters, map[string]any{"$ref": "#/components/parameters/Key"}, r)
		}
		// Every operation on label jobs takes the account header.
		if strings.HasPrefix(path, "/v1/labels") || strings.HasPrefix(path, "/v1/dead-letters") {
			require.Contains(t, op.Parameters, map[string]any{"$ref": "#/components/parameters/Account"}, r)
			require.Contains(t, op.Responses, "400", r)
		}
		// The mux serves it with exactly this pattern.
		req := httptest.NewRequest(method, strings.ReplaceAll(path, "{key}", "some%2Fkey"), nil)
		require.Equal(t, r, httpapi.PatternForTest(e.h, req))
	}

	require.Equal(t, []map[string][]string{{"bearerAuth": {}}, {"basicAuth": {}}}, doc.Security)
	require.Equal(t, "bearer", doc.Components.SecuritySchemes["bearerAuth"].Scheme)
	require.Equal(t, "basic", doc.Components.SecuritySchemes["basicAuth"].Scheme)
	reasons := doc.Components.Schemas["Reason"].Enum
	require.Equal(t, slices.Sorted(slices.Values(queue.ReasonNames())), slices.Sorted(slices.Values(reasons)))
	outcomes := doc.Components.Schemas["Outcome"].Enum
	require.ElementsMatch(t, []string{string(queue.Enqueued), string(queue.Duplicate), string(queue.Conflict), string(queue.Invalid), string(queue.Dead)}, outcomes)
}

// TestRoutes_EveryRouteNamesAScope: a route added without a scope would
// be served to no one or, worse, be mistaken for a public one.
func TestRoutes_EveryRouteNamesAScope(t *testing.T) {
	t.Parallel()
	known := []auth.Scope{auth.Public, auth.Producer, auth.Operator, auth.Viewer, auth.Metrics}
	for r, scopes := range httpapi.RoutesForTest(newEnv(t).h) {
		require.NotEmpty(t, scopes, r)
		for _, s := range scopes {
			require.Contains(t, known, s, r)
		}
		if slices.Contains(scopes, auth.Public) {
			require.Len(t, scopes, 1, "%s: public excludes other scopes", r)
		}
	}
}

func TestOpenAPI_ServedAsYAML(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(http.MethodGet, "/openapi.yaml", nil, "Authorization", "")
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, "application/yaml", r.header.Get("Content-Type"))
	want, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	require.Equal(t, string(want), string(r.body))
}
