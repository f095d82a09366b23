package opsui

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Hidden is what a personal field shows to a caller who may not see it.
const Hidden = "hidden (needs scope operator)"

// personalKeys are fields that are personal wherever they are; every value
// inside a contact or an address is personal too, but a country code.
var personalKeys = map[string]bool{
	"firstname": true, "lastname": true, "name": true, "fullname": true, "companyname": true,
	"phone": true, "email": true, "streetlines": true, "street": true, "city": true, "postalcode": true,
}

// redact returns raw with the value of each personal field (flexapi's
// Contact and Address, wherever they appear: shipTo, shipFrom, and any
// contact or address in the free-form parts like customs or pickup)
// replaced by Hidden, keeping the request's shape and field order. A request
// that is not JSON is hidden whole.
func redact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if !redactValue(&b, raw, false) {
		out, _ := json.Marshal(Hidden)
		return out
	}
	return b.Bytes()
}

// redactValue writes v with personal values hidden; under is set inside a
// contact or address. It reports false if v is not JSON.
func redactValue(b *bytes.Buffer, v json.RawMessage, under bool) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(v))
		if _, err := dec.Token(); err != nil {
			return false
		}
		b.WriteByte('{')
		for first := true; dec.More(); first = false {
			t, err := dec.Token()
			k, ok := t.(string)
			if err != nil || !ok {
				return false
			}
			var val json.RawMessage
			if err := dec.Decode(&val); err != nil {
				return false
			}
			if !first {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			lk := strings.ToLower(k)
			switch {
			case lk == "contact" || lk == "address":
				if !redactValue(b, val, true) {
					return false
				}
			case under && lk == "countrycode":
				b.Write(val)
			case under || personalKeys[lk]:
				if bytes.Equal(bytes.TrimSpace(val), []byte("null")) {
					b.WriteString("null")
				} else {
					hb, _ := json.Marshal(Hidden)
					b.Write(hb)
				}
			default:
				if !redactValue(b, val, false) {
					return false
				}
			}
		}
		b.WriteByte('}')
		return true
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(v, &items) != nil {
			return false
		}
		b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			if !redactValue(b, it, under) {
				return false
			}
		}
		b.WriteByte(']')
		return true
	}
	if under {
		hb, _ := json.Marshal(Hidden)
		b.Write(hb)
		return json.Valid(v)
	}
	b.Write(v)
	return json.Valid(v)
}
