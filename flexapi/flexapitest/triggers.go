package flexapitest

import (
	"net/http"

	"github.com/flexlabel/flexlabel/flexapi"
)

// More trigger product codes, for failures the contract leaves to the API:
// each answers the same way on every call and stores nothing, so the key
// stays unused. With RejectProductCode and NoAccountProductCode they give
// every outcome a client must handle (flexlabel dev seeds one of each).
const (
	// InvalidProductCode answers 400 Validation failed with a detail on
	// service.productCode: a request that passes the documented rules but
	// that the API refuses, as it may.
	InvalidProductCode = "INVALID"
	// UnprocessableProductCode answers 422, a 4xx the contract does not
	// document (to be treated as permanent).
	UnprocessableProductCode = "UNPROCESSABLE"
	// UnavailableProductCode answers 500 every time: a transient failure
	// that never clears, so a client's retries run out.
	UnavailableProductCode = "UNAVAILABLE"
)

// triggered returns the answer a trigger product code asks for instead of
// a label, or nil.
func triggered(productCode string) func(http.ResponseWriter) {
	switch productCode {
	case InvalidProductCode:
		return func(w http.ResponseWriter) {
			writeValidation(w, []flexapi.Detail{{Field: "service.productCode", Message: "is not available to this account (fake validation failure)"}})
		}
	case UnprocessableProductCode:
		return func(w http.ResponseWriter) { writeError(w, http.StatusUnprocessableEntity, "Unprocessable Entity") }
	case UnavailableProductCode:
		return func(w http.ResponseWriter) { writeError(w, http.StatusInternalServerError, "Internal server error") }
	}
	return nil
}
