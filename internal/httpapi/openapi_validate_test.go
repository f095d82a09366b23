package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
)

// loadKinDoc loads openapi.yaml with kin-openapi, an independent
// validator, and fails the test on anything it reports.
func loadKinDoc(t testing.TB) *openapi3.T {
	t.Helper()
	b, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(b)
	require.NoError(t, err, "kin-openapi cannot load openapi.yaml")
	require.True(t, doc.IsOpenAPI31OrLater(), "the document is OpenAPI 3.1")
	// Validate turns on JSON Schema 2020-12 (3.1) itself, from doc.OpenAPI;
	// multi-error reports every problem, examples and defaults are checked.
	require.NoError(t, doc.Validate(context.Background(),
		openapi3.EnableMultiError(),
		openapi3.EnableExamplesValidation(),
		openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaPatternValidation(),
		openapi3.ProhibitExtensionsWithRef(),
	), "kin-openapi rejects openapi.yaml")
	return doc
}

func TestOpenAPI_IndependentValidatorAccepts(t *testing.T) {
	t.Parallel()
	doc := loadKinDoc(t)
	// The flow mappings parse as written: a description holding a comma
	// once split into a bogus key.
	label := doc.Components.Schemas["Label"].Value
	require.Equal(t, "The label document, once fetched.", label.Properties["url"].Value.Description)
	require.Len(t, label.Properties, 5)
	contact := doc.Components.Schemas["Party"].Value.Properties["contact"].Value
	require.Equal(t, "A string, so leading zeros and '+' survive.", contact.Properties["phone"].Value.Description)
	require.Len(t, contact.Properties, 4)
}

// TestOpenAPI_ServersAndNumberFormats: a client generated from the document
// knows where to send requests, and reads every number as a float64 (a
// float32 weight or amount would change a re-sent request, which would then
// come back 409).
func TestOpenAPI_ServersAndNumberFormats(t *testing.T) {
	t.Parallel()
	doc := loadKinDoc(t)
	require.NotEmpty(t, doc.Servers)
	require.Equal(t, "/", doc.Servers[0].URL)

	var numbers []string
	seen := map[*openapi3.Schema]bool{}
	var walk func(path string, s *openapi3.SchemaRef)
	walk = func(path string, s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if v.Type.Includes(openapi3.TypeNumber) {
			numbers = append(numbers, path)
			require.Equal(t, "double", v.Format, "%s: a number needs format double", path)
		}
		for name, p := range v.Properties {
			walk(path+"."+name, p)
		}
		walk(path+"[]", v.Items)
		for i, list := range [][]*openapi3.SchemaRef{v.AllOf, v.AnyOf, v.OneOf} {
			for j, x := range list {
				walk(fmt.Sprintf("%s/%d.%d", path, i, j), x)
			}
		}
	}
	for name, s := range doc.Components.Schemas {
		walk(name, s)
	}
	require.Len(t, numbers, 6, "weight, length, width, height, amount, unitWeight: %v", numbers)
	parcel := doc.Components.Schemas["Parcel"].Value.Properties
	require.Equal(t, "double", parcel["weight"].Value.Format)
	require.Equal(t, "double", parcel["items"].Value.Items.Value.Properties["unitPrice"].Value.Properties["amount"].Value.Format)
}

// TestHEAD_NotServed: the document lists no HEAD operation, so HEAD is a
// JSON 405 whose Allow names only what is documented.
func TestHEAD_NotServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/openapi.yaml", "/v1/labels/k", "/v1/dead-letters"} {
		r := e.do(http.MethodHead, p, nil)
		require.Equal(t, http.StatusMethodNotAllowed, r.code, p)
		require.Equal(t, "application/json", r.header.Get("Content-Type"), p)
		require.NotContains(t, r.header.Get("Allow"), "HEAD", p)
		require.Contains(t, r.header.Get("Allow"), "GET", p)
	}
	require.Equal(t, "DELETE, GET", e.do(http.MethodHead, "/v1/dead-letters/k", nil).header.Get("Allow"))
	require.Equal(t, http.StatusNotFound, e.do(http.MethodHead, "/nowhere", nil).code)
	require.Equal(t, "POST", e.do(http.MethodHead, "/v1/labels", nil).header.Get("Allow"))
}
