package queuetest

import (
	"encoding/json"
	"fmt"

	"github.com/flexlabel/flexlabel/flexapi"
)

// RequestJSON returns a valid Flex Forward label request for key, shaped like
// the API docs' own example. productCode "" keeps the example's HKMUZXR.
func RequestJSON(key, productCode string) []byte {
	if productCode == "" {
		productCode = "HKMUZXR"
	}
	return fmt.Appendf(nil, `{"idempotencyKey":%q,"courier":"yunexpress","service":{"productCode":%q},`+
		`"label":{"format":"PDF"},"units":{"weight":"KG","dimension":"CM"},`+
		`"order":{"customerOrderNumber":%q,"orderNumbers":{"platformOrderNumber":%q,"referenceNumbers":["R-1"]}},`+
		`"shipment":{"shipTo":{"contact":{"firstName":"Alex","lastName":"Smith","phone":"8554377467","email":"alex@example.com"},`+
		`"address":{"streetLines":["18 Distribution Blvd"],"city":"Edison","state":"NJ","postalCode":"08817","countryCode":"US"}},`+
		`"shipFrom":{"contact":{"firstName":"John","lastName":"Doe","phone":"886900676877"},`+
		`"address":{"streetLines":["Habucho"],"city":"Kishiwada-Shi","state":"Osaka","postalCode":"596-0825","countryCode":"JP"}},`+
		`"parcels":[{"weight":0.5,"dimension":{"length":30,"width":20,"height":10},`+
		`"items":[{"descriptionEn":"Ink pen","descriptionLocal":"文具","quantity":1,"unitPrice":{"amount":29.99,"currency":"USD"},"unitWeight":0.5}]}]}}`,
		key, productCode, "N-"+key, "P-"+key)
}

// Request returns RequestJSON decoded.
func Request(key, productCode string) *flexapi.LabelRequest {
	var r flexapi.LabelRequest
	if err := json.Unmarshal(RequestJSON(key, productCode), &r); err != nil {
		panic(err)
	}
	return &r
}
