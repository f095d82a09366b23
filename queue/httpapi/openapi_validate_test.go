package httpapi_test

import (
	"context"
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
