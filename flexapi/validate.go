package flexapi

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Validate applies the rules the Flex Forward docs state, and no others: the
// required fields, at least one parcel, parcel weight > 0, and ISO 3166-1
// alpha-2 country codes. It reports every problem at once. Everything else
// (courier and product codes, which depend on the account; contacts,
// shipFrom, dimensions, descriptions) is the API's to decide: its 400 carries
// details, and a request it refuses becomes a dead letter with them.
func (r *LabelRequest) Validate() error {
	if d := r.problems(); len(d) > 0 {
		return &ValidationError{Details: d}
	}
	return nil
}

// problems lists what Validate refuses. Each rule names the page of the docs
// that states it (docs/FLEXFORWARD_API.md has the digest).
func (r *LabelRequest) problems() []Detail {
	var d []Detail
	add := func(field, msg string) { d = append(d, Detail{Field: field, Message: msg}) }

	// ["POST /labels request"] idempotencyKey (string, required); the key is
	// how the API recognises a retry [idempotency-and-retries].
	switch {
	case r.IdempotencyKey == "":
		add("idempotencyKey", "is required")
	case !utf8.ValidString(r.IdempotencyKey):
		// Not a rule of the API's but of JSON (RFC 8259 §8.1): encoding
		// the key would turn these bytes into U+FFFD, so the API would
		// see another key than the one the queue holds the job under.
		// DecodeLabelRequest never yields such a key; a Go caller can.
		add("idempotencyKey", "must be valid UTF-8")
	}
	// ["POST /labels request"] courier (string, required).
	if r.Courier == "" {
		add("courier", "is required")
	}
	// ["POST /labels request"] service (object, required: productCode).
	if r.Service == nil {
		add("service", "is required")
	} else if r.Service.ProductCode == "" {
		add("service.productCode", "is required")
	}
	// ["POST /labels request"] shipment (object, required). Inside it the
	// docs' older minimal example has only shipTo and parcels; shipFrom,
	// dimension, descriptionLocal, email and state are optional.
	if r.Shipment == nil {
		add("shipment", "is required")
		return d
	}
	s := r.Shipment
	if s.ShipTo == nil {
		add("shipment.shipTo", "is required")
	}
	if len(s.Parcels) == 0 {
		add("shipment.parcels", "must contain at least one parcel")
	}
	// ["POST /labels request"] "countryCode must be ISO 3166-1 alpha-2",
	// checked wherever an address carries one; an address without one is
	// the API's to judge.
	for _, p := range []struct {
		path  string
		party *Party
	}{{"shipment.shipTo", s.ShipTo}, {"shipment.shipFrom", s.ShipFrom}} {
		if p.party == nil || p.party.Address == nil || p.party.Address.CountryCode == "" {
			continue
		}
		if cc := p.party.Address.CountryCode; !IsCountryCode(cc) {
			add(p.path+".address.countryCode", fmt.Sprintf("must be an ISO 3166-1 alpha-2 code, got %q", cc))
		}
	}
	// ["POST /labels request"] "parcel weight must be > 0"; a parcel
	// without a weight has none above 0 either.
	for i, p := range s.Parcels {
		if !(p.Weight > 0) {
			add(fmt.Sprintf("shipment.parcels[%d].weight", i), "must be greater than 0")
		}
	}
	return d
}

// ParseLabelRequest decodes and validates in one step and reports every
// problem of both at once: a request with an unknown field, a weight of 0 and
// countryCode "USA" gets three details. The rules are checked on what could
// be decoded; a rule about a field whose shape is wrong is left out, since
// the shape problem already says what is wrong there (see MergeDetails).
// Only a body that is not a JSON object gets its one problem alone.
func ParseLabelRequest(data []byte) (*LabelRequest, error) {
	req, shape := decode(data)
	var rules []Detail
	if req != nil {
		rules = req.problems()
	}
	if d := MergeDetails(shape, rules); len(d) > 0 {
		return nil, &ValidationError{Details: d}
	}
	return req, nil
}

// MergeDetails joins the shape problems of a request (a value of the wrong
// type, say) with the rule problems found on what could be read of it: the
// shape problems first, then each rule problem not about a field at or under
// one that has a shape problem. A weight given as "abc" is reported as not a
// number, not also as not greater than 0. Callers that read requests from
// another form (a CSV row) use it to merge their own problems the same way.
func MergeDetails(shape, rules []Detail) []Detail {
	out := make([]Detail, 0, len(shape)+len(rules))
	out = append(out, shape...)
	for _, r := range rules {
		if !covered(r.Field, shape) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// covered reports whether field is, or lies under, the field of one of the
// shape problems.
func covered(field string, shape []Detail) bool {
	for _, s := range shape {
		if s.Field == "" {
			continue
		}
		if field == s.Field || strings.HasPrefix(field, s.Field) && (field[len(s.Field)] == '.' || field[len(s.Field)] == '[') {
			return true
		}
	}
	return false
}
