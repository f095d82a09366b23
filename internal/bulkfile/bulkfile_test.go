package bulkfile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/bulkfile"
)

// readAll reads r to its end and fails the test on a fatal error.
func readAll(t testing.TB, r bulkfile.Reader) []bulkfile.Record {
	t.Helper()
	var recs []bulkfile.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		require.NoError(t, err)
		recs = append(recs, rec)
	}
}

// readCSV opens file as CSV and reads every record.
func readCSV(t *testing.T, file string) []bulkfile.Record {
	t.Helper()
	r, err := bulkfile.NewCSV(strings.NewReader(file))
	require.NoError(t, err)
	return readAll(t, r)
}

// rowError returns the *RowError of rec.
func rowError(t *testing.T, rec bulkfile.Record) *bulkfile.RowError {
	t.Helper()
	require.Nil(t, rec.Data, "a record with Err has no Data")
	var re *bulkfile.RowError
	require.ErrorAs(t, rec.Err, &re)
	require.Equal(t, rec.Line, re.Line)
	return re
}

func headerError(t *testing.T, header string) *bulkfile.HeaderError {
	t.Helper()
	r, err := bulkfile.NewCSV(strings.NewReader(header + "\nk\n"))
	require.Nil(t, r)
	var he *bulkfile.HeaderError
	require.ErrorAs(t, err, &he)
	return he
}

func TestNewCSV_TypesCellsByField(t *testing.T) {
	t.Parallel()
	recs := readCSV(t, ""+
		"idempotencyKey,shipment.shipTo.contact.phone,shipment.shipTo.address.postalCode,shipment.shipTo.address.streetLines[0],"+
		"shipment.parcels[0].weight,shipment.parcels[0].dimension.length,shipment.parcels[0].items[0].quantity,"+
		"shipment.parcels[0].items[0].unitPrice.amount,shipment.parcels[0].items[0].unitWeight,order.customerOrderNumber\n"+
		`k1,0044 20 7946 0018,08817, Flat 2 ,0.50,1e2,2,29.99,.5,007`+"\n"+
		`k2,+1-555,00501,"a ""quoted"" street",3,-0,2.0, 4 ,0.000000123,1`+"\n")
	require.Len(t, recs, 2)
	require.NoError(t, recs[0].Err)
	require.Equal(t, 2, recs[0].Line)
	require.JSONEq(t, `{"idempotencyKey":"k1","order":{"customerOrderNumber":"007"},"shipment":{
		"shipTo":{"contact":{"phone":"0044 20 7946 0018"},"address":{"postalCode":"08817","streetLines":[" Flat 2 "]}},
		"parcels":[{"weight":0.5,"dimension":{"length":100},"items":[{"quantity":2,"unitPrice":{"amount":29.99},"unitWeight":0.5}]}]}}`,
		string(recs[0].Data))
	require.NoError(t, recs[1].Err)
	require.Equal(t, 3, recs[1].Line)
	require.JSONEq(t, `{"idempotencyKey":"k2","order":{"customerOrderNumber":"1"},"shipment":{
		"shipTo":{"contact":{"phone":"+1-555"},"address":{"postalCode":"00501","streetLines":["a \"quoted\" street"]}},
		"parcels":[{"weight":3,"dimension":{"length":-0},"items":[{"quantity":2,"unitPrice":{"amount":4},"unitWeight":1.23e-7}]}]}}`,
		string(recs[1].Data))

	// The output decodes as the request it describes, in struct-field order.
	req, err := flexapi.DecodeLabelRequest(recs[0].Data)
	require.NoError(t, err)
	require.Equal(t, "08817", req.Shipment.ShipTo.Address.PostalCode)
	require.Equal(t, 2, req.Shipment.Parcels[0].Items[0].Quantity)
	require.True(t, bytes.HasPrefix(recs[0].Data, []byte(`{"idempotencyKey":"k1","shipment":{"shipTo":{"contact":`)), string(recs[0].Data))
}

func TestNewCSV_BadNumber_RowErrorAndRunGoesOn(t *testing.T) {
	t.Parallel()
	const header = "idempotencyKey,shipment.parcels[0].weight,shipment.parcels[0].items[0].quantity\n"
	tests := []struct {
		name, weight, quantity string
		col                    int
		want                   string
	}{
		{"word", "abc", "1", 2, `"abc" is not a number`},
		{"decimal comma", `"0,5"`, "1", 2, `"0,5" is not a number`},
		{"thousands separator", `"1,200"`, "1", 2, `"1,200" is not a number`},
		{"NaN", "NaN", "1", 2, `"NaN" is not a number`},
		{"Inf", "Inf", "1", 2, `"Inf" is not a number`},
		{"hex", "0x10", "1", 2, `"0x10" is not a number`},
		{"underscore", "1_000", "1", 2, `"1_000" is not a number`},
		{"unit", "0.5kg", "1", 2, `"0.5kg" is not a number`},
		{"overflow", "1e999", "1", 2, `"1e999" is out of range`},
		{"fractional quantity", "1", "2.5", 3, `"2.5" is not a whole number`},
		{"quantity word", "1", "two", 3, `"two" is not a number`},
		{"quantity beyond int", "1", "9223372036854775808", 3, `"9223372036854775808" is out of range`},
		{"quantity exponent beyond int", "1", "1e19", 3, `"1e19" is out of range`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs := readCSV(t, header+"k1,"+tc.weight+","+tc.quantity+"\nk2,1,1\n")
			require.Len(t, recs, 2)
			re := rowError(t, recs[0])
			require.Equal(t, 2, re.Line)
			require.Len(t, re.Problems, 1)
			p := re.Problems[0]
			require.Equal(t, tc.col, p.Column)
			require.Equal(t, strings.Split(strings.TrimSpace(header), ",")[tc.col-1], p.Name)
			require.Contains(t, p.Message, tc.want)
			require.Contains(t, re.Error(), fmt.Sprintf("line 2: column %d %q: ", tc.col, p.Name))

			require.NoError(t, recs[1].Err, "the next row still converts")
			require.JSONEq(t, `{"idempotencyKey":"k2","shipment":{"parcels":[{"weight":1,"items":[{"quantity":1}]}]}}`, string(recs[1].Data))
		})
	}
}

func TestNewCSV_EveryBadCellOfARowReported(t *testing.T) {
	t.Parallel()
	recs := readCSV(t, "idempotencyKey,shipment.parcels[0].weight,shipment.shipTo.address.city,customs,shipment.parcels[0].items[0].quantity\n"+
		"k,heavy,M\xfcnchen,{oops,1.5\n")
	re := rowError(t, recs[0])
	require.Len(t, re.Problems, 4)
	var cols []int
	for _, p := range re.Problems {
		cols = append(cols, p.Column)
	}
	require.Equal(t, []int{2, 3, 4, 5}, cols, "in column order")
	require.Contains(t, re.Problems[1].Message, "not valid UTF-8")
	require.Contains(t, re.Problems[2].Message, "not valid JSON")
	require.Contains(t, re.Problems[3].Message, "not a whole number")
}

func TestNewCSV_UnknownColumns_OneErrorNamingEach(t *testing.T) {
	t.Parallel()
	he := headerError(t, "idempotencyKey,shipment.shipTo.adress.city,courier,foo,shipment.parcels[0].wieght,service.shipperAccountId")
	require.Len(t, he.Problems, 4)
	want := []struct {
		col  int
		name string
		msg  string
	}{
		{2, "shipment.shipTo.adress.city", `unknown field "adress" in shipment.shipTo (known: contact, address)`},
		{4, "foo", `unknown field "foo" in the request`},
		{5, "shipment.parcels[0].wieght", `unknown field "wieght" in shipment.parcels[0]`},
		{6, "service.shipperAccountId", `unknown field "shipperAccountId" in service`},
	}
	for i, w := range want {
		require.Equal(t, w.col, he.Problems[i].Column)
		require.Equal(t, w.name, he.Problems[i].Name)
		require.Contains(t, he.Problems[i].Message, w.msg)
		require.Contains(t, he.Error(), fmt.Sprintf("column %d %q", w.col, w.name))
	}
	require.True(t, strings.HasPrefix(he.Error(), "CSV header has 4 problems: "), he.Error())
}

func TestNewCSV_BadHeaderPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header string
		col          int
		want         string
	}{
		{"object", "shipment.shipTo", 1, "shipment.shipTo is an object: name one of its fields (contact, address)"},
		{"array without index", "shipment.parcels", 1, "shipment.parcels is an array: name an element, e.g. shipment.parcels[0]"},
		{"field of array", "shipment.parcels.weight", 1, "shipment.parcels is an array: name an element, e.g. shipment.parcels[0].weight"},
		{"index too big", "shipment.parcels[100].weight", 1, "want a whole number from 0 to 99"},
		{"leading zero", "shipment.parcels[01].weight", 1, "without leading zeros"},
		{"negative index", "shipment.parcels[-1].weight", 1, "want a whole number from 0 to 99"},
		{"empty index", "shipment.parcels[].weight", 1, "want a whole number"},
		{"index of non-array", "courier[0]", 1, "courier is a string, not an array"},
		{"field of string", "courier.name", 1, "courier is a string and has no fields"},
		{"field of number", "shipment.parcels[0].weight.kg", 1, "shipment.parcels[0].weight is a number and has no fields"},
		{"inside raw JSON", "customs.contents", 1, "customs holds raw JSON: put the whole value in one column named customs"},
		{"wrong case", "idempotencykey", 1, `did you mean "idempotencyKey"?`},
		{"empty name", "courier,,idempotencyKey", 2, "empty column name"},
		{"malformed", "shipment..shipTo", 1, "malformed path"},
		{"unclosed index", "shipment.parcels[0.weight", 1, "malformed index"},
		{"junk after index", "shipment.parcels[0]x.weight", 1, "malformed index"},
		{"array starts at 1", "idempotencyKey,shipment.parcels[1].weight", 2, "no column for shipment.parcels[0]"},
		{"array gap", "shipment.shipTo.address.streetLines[0],shipment.shipTo.address.streetLines[2]", 2, "no column for shipment.shipTo.address.streetLines[1]"},
		{"nested gap", "shipment.parcels[0].weight,shipment.parcels[0].items[1].quantity", 2, "no column for shipment.parcels[0].items[0]"},
		{"duplicate", "courier,idempotencyKey,courier", 3, "duplicate of column 1"},
		{"duplicate after trimming", "courier, courier ", 2, "duplicate of column 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			he := headerError(t, tc.header)
			require.Len(t, he.Problems, 1, he.Error())
			require.Equal(t, tc.col, he.Problems[0].Column)
			require.Contains(t, he.Problems[0].Message, tc.want)
		})
	}
}

func TestNewCSV_HeaderChecked_BeforeAnyRow(t *testing.T) {
	t.Parallel()
	// A reader that fails after the header: NewCSV must report the header
	// without having needed anything beyond it.
	r := io.MultiReader(strings.NewReader("courier,nope\n"), iotestErr{})
	_, err := bulkfile.NewCSV(r)
	var he *bulkfile.HeaderError
	require.ErrorAs(t, err, &he)
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestNewCSV_EmptyOrBrokenFile(t *testing.T) {
	t.Parallel()
	_, err := bulkfile.NewCSV(strings.NewReader(""))
	require.ErrorContains(t, err, "the file is empty")
	_, err = bulkfile.NewCSV(strings.NewReader("\xef\xbb\xbf"))
	require.ErrorContains(t, err, "the file is empty")
	_, err = bulkfile.NewCSV(iotestErr{})
	require.ErrorContains(t, err, "disk on fire")
}

func TestNewCSV_HeaderOnly_EOF(t *testing.T) {
	t.Parallel()
	r, err := bulkfile.NewCSV(strings.NewReader("idempotencyKey,courier\n"))
	require.NoError(t, err)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF, "EOF again after the end")
}

func TestNewCSV_BOMAndSpacesAroundNames(t *testing.T) {
	t.Parallel()
	for _, header := range []string{
		"\xef\xbb\xbfidempotencyKey,courier",
		"\xef\xbb\xbf\"idempotencyKey\",courier",
		"\xef\xbb\xbf idempotencyKey ,\tcourier ",
	} {
		recs := readCSV(t, header+"\r\nk1,yunexpress\r\n")
		require.Len(t, recs, 1, "%q", header)
		require.JSONEq(t, `{"idempotencyKey":"k1","courier":"yunexpress"}`, string(recs[0].Data))
	}
}

func TestNewCSV_EmptyCellsLeftOut(t *testing.T) {
	t.Parallel()
	recs := readCSV(t, ""+
		"idempotencyKey,courier,shipment.shipTo.contact.phone,shipment.parcels[0].weight,shipment.parcels[0].items[0].quantity,customs,serviceOptions[0].code\n"+
		"k1,,   ,\t,,  ,\n"+
		",,,,,,\n"+ // a row of empty cells is skipped, like a blank line
		"\n"+
		`k2," ","a b",,,,`+"\n")
	require.Len(t, recs, 2)
	require.Equal(t, `{"idempotencyKey":"k1"}`, string(recs[0].Data), "no empty strings, objects or arrays")
	require.Equal(t, 2, recs[0].Line)
	require.Equal(t, 5, recs[1].Line, "skipped rows still count")
	require.JSONEq(t, `{"idempotencyKey":"k2","shipment":{"shipTo":{"contact":{"phone":"a b"}}}}`, string(recs[1].Data))
}

func TestNewCSV_RawJSONColumns(t *testing.T) {
	t.Parallel()
	const header = "idempotencyKey,customs,serviceOptions[0].code,serviceOptions[0].value,serviceOptions[1].code,serviceOptions[1].value,pickup,dangerousGoods,courierOptions\n"
	recs := readCSV(t, header+
		`k1,"{""contents"": ""gift"", ""items"": [1, 2]}",SIG,true,INS,"{ ""amount"": 10 }"," {""date"":""2026-06-01""} ","[""UN3481""]","""08817"""`+"\n"+
		`k2,{oops,SIG,yes,,,,,`+"\n"+
		"k3,\"\xff\",,,,,,,\n")
	require.Len(t, recs, 3)
	require.NoError(t, recs[0].Err)
	require.Equal(t, `{"idempotencyKey":"k1","customs":{"contents":"gift","items":[1,2]},`+
		`"serviceOptions":[{"code":"SIG","value":true},{"code":"INS","value":{"amount":10}}],`+
		`"dangerousGoods":["UN3481"],"pickup":{"date":"2026-06-01"},"courierOptions":"08817"}`, string(recs[0].Data))

	re := rowError(t, recs[1])
	require.Len(t, re.Problems, 2)
	require.Equal(t, 2, re.Problems[0].Column)
	require.Equal(t, "customs", re.Problems[0].Name)
	require.Contains(t, re.Problems[0].Message, "not valid JSON")
	require.Equal(t, 4, re.Problems[1].Column)
	require.Equal(t, "serviceOptions[0].value", re.Problems[1].Name)
	require.Contains(t, re.Problems[1].Message, "not valid JSON")

	re = rowError(t, recs[2])
	require.Contains(t, re.Problems[0].Message, "not valid UTF-8")
}

func TestNewCSV_InvalidUTF8_RowError(t *testing.T) {
	t.Parallel()
	recs := readCSV(t, "idempotencyKey,shipment.shipTo.address.city\nk1,M\xfcnchen\nk2,München\n")
	re := rowError(t, recs[0])
	require.Equal(t, 2, re.Problems[0].Column)
	require.Contains(t, re.Problems[0].Message, "not valid UTF-8")
	require.JSONEq(t, `{"idempotencyKey":"k2","shipment":{"shipTo":{"address":{"city":"München"}}}}`, string(recs[1].Data))
}

func TestNewCSV_ArrayHoles(t *testing.T) {
	t.Parallel()
	const header = "idempotencyKey,shipment.shipTo.address.streetLines[0],shipment.shipTo.address.streetLines[1]," +
		"shipment.parcels[0].weight,shipment.parcels[0].items[0].quantity,shipment.parcels[1].weight,shipment.parcels[1].items[0].quantity\n"
	recs := readCSV(t, header+
		"k1,,Flat 2,1,,,\n"+ // streetLines[1] without [0]
		"k2,Main St,,,,2,\n"+ // parcels[1] without parcels[0]
		"k3,Main St,,1,,,3\n"+ // parcels[1].items[0] set: parcels[1] exists, and parcels[0] too
		"k4,Main St,,,,,\n") // trailing empties are fine
	require.Len(t, recs, 4)

	re := rowError(t, recs[0])
	require.Len(t, re.Problems, 1)
	require.Equal(t, 3, re.Problems[0].Column)
	require.Equal(t, "shipment.shipTo.address.streetLines[1]", re.Problems[0].Name)
	require.Contains(t, re.Problems[0].Message, "set while shipment.shipTo.address.streetLines[0] is empty")

	re = rowError(t, recs[1])
	require.Len(t, re.Problems, 1)
	require.Equal(t, 6, re.Problems[0].Column)
	require.Contains(t, re.Problems[0].Message, "set while shipment.parcels[0] is empty")

	require.NoError(t, recs[2].Err)
	require.JSONEq(t, `{"idempotencyKey":"k3","shipment":{"shipTo":{"address":{"streetLines":["Main St"]}},
		"parcels":[{"weight":1},{"items":[{"quantity":3}]}]}}`, string(recs[2].Data))
	require.JSONEq(t, `{"idempotencyKey":"k4","shipment":{"shipTo":{"address":{"streetLines":["Main St"]}}}}`, string(recs[3].Data))
}

func TestNewCSV_RaggedRows_RowError(t *testing.T) {
	t.Parallel()
	recs := readCSV(t, "idempotencyKey,courier,service.productCode\n"+
		"k1,yunexpress\n"+
		"k2,yunexpress,HKMUZXR,extra\n"+
		"   \n"+ // spaces only: a blank row, not a short one
		"k3,yunexpress,HKMUZXR\n")
	require.Len(t, recs, 3)
	re := rowError(t, recs[0])
	require.Equal(t, 2, re.Line)
	require.Contains(t, re.Error(), "line 2: 2 cells, but the header has 3 columns")
	re = rowError(t, recs[1])
	require.Equal(t, 3, re.Line)
	require.Contains(t, re.Error(), "4 cells, but the header has 3 columns")
	require.NoError(t, recs[2].Err)
	require.Equal(t, 5, recs[2].Line)
}

func TestNewCSV_Quotes(t *testing.T) {
	t.Parallel()
	t.Run("multi-line cell: Line is where the row starts", func(t *testing.T) {
		t.Parallel()
		recs := readCSV(t, "idempotencyKey,shipment.shipTo.address.city\nk1,\"New\nYork\"\nk2,Edison\n")
		require.Len(t, recs, 2)
		require.Equal(t, 2, recs[0].Line)
		require.JSONEq(t, `{"idempotencyKey":"k1","shipment":{"shipTo":{"address":{"city":"New\nYork"}}}}`, string(recs[0].Data))
		require.Equal(t, 4, recs[1].Line)
	})
	t.Run("bare quote: that row only", func(t *testing.T) {
		t.Parallel()
		recs := readCSV(t, "idempotencyKey,shipment.parcels[0].items[0].descriptionEn\nk1,5\" monitor\nk2,monitor\n")
		require.Len(t, recs, 2)
		re := rowError(t, recs[0])
		require.Equal(t, 2, re.Line)
		require.Contains(t, re.Error(), `a " inside an unquoted cell`)
		require.NoError(t, recs[1].Err)
		require.Equal(t, 3, recs[1].Line)
	})
	t.Run("stray quote on one line: that row only", func(t *testing.T) {
		t.Parallel()
		recs := readCSV(t, "idempotencyKey,shipment.parcels[0].items[0].descriptionEn\nk1,\"5\" monitor\"\nk2,monitor\n")
		require.Len(t, recs, 2)
		require.Contains(t, rowError(t, recs[0]).Error(), `a stray " in a quoted cell`)
		require.NoError(t, recs[1].Err)
	})
	t.Run("quote open across lines: fatal", func(t *testing.T) {
		t.Parallel()
		r, err := bulkfile.NewCSV(strings.NewReader("idempotencyKey,courier\nk1,\"yunexpress\nk2,yunexpress\"x\nk3,yunexpress\n"))
		require.NoError(t, err)
		_, err = r.Next()
		require.ErrorContains(t, err, "read CSV: record on line 2")
		_, again := r.Next()
		require.Equal(t, err, again, "a fatal error is sticky")
	})
	t.Run("quote never closed: fatal at the row limit, not the end of the file", func(t *testing.T) {
		t.Parallel()
		rows := strings.Repeat("k,yunexpress\n", 200_000) // 2.6 MB
		r, err := bulkfile.NewCSV(strings.NewReader("idempotencyKey,courier\nk0,\"yunexpress\n" + rows))
		require.NoError(t, err)
		_, err = r.Next()
		require.ErrorIs(t, err, bulkfile.ErrTooLong)
		require.ErrorContains(t, err, "is a quote left open?")
	})
}

func TestNewCSV_LongLines(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("a", bulkfile.MaxLineBytes)
	for _, eol := range []string{"\n", "\r\n", ""} {
		recs := readCSV(t, "idempotencyKey\n"+longest+eol)
		require.Len(t, recs, 1)
		require.Len(t, recs[0].Data, len(`{"idempotencyKey":""}`)+bulkfile.MaxLineBytes)

		r, err := bulkfile.NewCSV(strings.NewReader("idempotencyKey\nk1\n" + longest + "a" + eol + "k3\n"))
		require.NoError(t, err)
		rec, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, 2, rec.Line)
		_, err = r.Next()
		require.ErrorIs(t, err, bulkfile.ErrTooLong, "eol %q", eol)
		require.ErrorContains(t, err, "line 3: longer than 1 MiB")
	}
}

func TestNewCSV_DataIsTheCallers(t *testing.T) {
	t.Parallel()
	r, err := bulkfile.NewCSV(strings.NewReader("idempotencyKey\nfirst\nsecond\n"))
	require.NoError(t, err)
	a, err := r.Next()
	require.NoError(t, err)
	_, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, `{"idempotencyKey":"first"}`, string(a.Data), "a later row must not overwrite an earlier Data")
}

// endless is an infinite CSV or NDJSON file: a reader that read its whole
// input before yielding a record would never return.
type endless struct {
	header, row []byte
	pending     []byte
}

func (e *endless) Read(p []byte) (int, error) {
	if len(e.pending) == 0 {
		if e.header != nil {
			e.pending, e.header = e.header, nil
		} else {
			e.pending = e.row
		}
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

func TestReaders_Stream(t *testing.T) {
	t.Parallel()
	c, err := bulkfile.NewCSV(&endless{header: []byte("idempotencyKey,courier\n"), row: []byte("k,yunexpress\n")})
	require.NoError(t, err)
	n := bulkfile.NewNDJSON(&endless{row: []byte(`{"idempotencyKey":"k"}` + "\n")})
	for i := range 1000 {
		rec, err := c.Next()
		require.NoError(t, err)
		require.Equal(t, i+2, rec.Line)
		rec, err = n.Next()
		require.NoError(t, err)
		require.Equal(t, i+1, rec.Line)
	}
}

func TestNewNDJSON_BlankLinesAndLineNumbers(t *testing.T) {
	t.Parallel()
	r := bulkfile.NewNDJSON(strings.NewReader("\xef\xbb\xbf{\"a\":1}\r\n\n   \n\t\r\n{\"b\": 2}  \n{\"c\":3}"))
	recs := readAll(t, r)
	require.Equal(t, []bulkfile.Record{
		{Line: 1, Data: []byte(`{"a":1}`)},
		{Line: 5, Data: []byte(`{"b": 2}  `)},
		{Line: 6, Data: []byte(`{"c":3}`)},
	}, recs)
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestNewNDJSON_EmptyFile(t *testing.T) {
	t.Parallel()
	require.Empty(t, readAll(t, bulkfile.NewNDJSON(strings.NewReader(""))))
	require.Empty(t, readAll(t, bulkfile.NewNDJSON(strings.NewReader("\n\n"))))
}

func TestNewNDJSON_LongLines(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("x", bulkfile.MaxLineBytes)
	tests := []struct {
		name, file string
		want       string // "" for no error
	}{
		{"longest line", "{}\n" + longest + "\n{}\n", ""},
		{"longest line, CRLF", "{}\r\n" + longest + "\r\n{}\r\n", ""},
		{"longest line at EOF", "{}\n" + longest, ""},
		{"one byte over", "{}\n" + longest + "x\n{}\n", "line 2: longer than 1 MiB"},
		{"two bytes over", "{}\n" + longest + "xx\n{}\n", "line 2: longer than 1 MiB"},
		{"far over", "{}\n\n" + longest + longest + "\n", "line 3: longer than 1 MiB"},
		{"over at EOF", "{}\n" + longest + "xyz", "line 2: longer than 1 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := bulkfile.NewNDJSON(strings.NewReader(tc.file))
			rec, err := r.Next()
			require.NoError(t, err)
			require.Equal(t, "{}", string(rec.Data))
			rec, err = r.Next()
			if tc.want == "" {
				require.NoError(t, err)
				require.Len(t, rec.Data, bulkfile.MaxLineBytes)
				return
			}
			require.ErrorIs(t, err, bulkfile.ErrTooLong)
			require.EqualError(t, err, tc.want)
			_, again := r.Next()
			require.Equal(t, err, again, "a fatal error is sticky")
		})
	}
}

func TestNewNDJSON_ReadError_Fatal(t *testing.T) {
	t.Parallel()
	r := bulkfile.NewNDJSON(io.MultiReader(strings.NewReader("{}\n"), iotestErr{}))
	_, err := r.Next()
	require.NoError(t, err)
	_, err = r.Next()
	require.ErrorContains(t, err, "read NDJSON after line 1: disk on fire")
}

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, want, wantErr string
	}{
		{"orders.csv", "", "csv", ""},
		{"ORDERS.CSV", "", "csv", ""},
		{"orders.ndjson", "", "ndjson", ""},
		{"orders.jsonl", "", "ndjson", ""},
		{"dir.d/orders.json", "", "ndjson", ""},
		{"orders.txt", "csv", "csv", ""},
		{"orders.csv", "ndjson", "ndjson", ""},
		{"-", "ndjson", "ndjson", ""},
		{"-", "", "", `set --format csv or --format ndjson`},
		{"orders.xlsx", "", "", `cannot tell the format of "orders.xlsx"`},
		{"orders", "", "", `cannot tell the format of "orders"`},
		{"orders.csv", "xml", "", `unknown --format "xml": want csv or ndjson`},
		{"orders.csv", "CSV", "", `unknown --format "CSV"`},
	}
	for _, tc := range tests {
		got, err := bulkfile.Detect(tc.name, tc.format)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, "%s %q", tc.name, tc.format)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%s %q", tc.name, tc.format)
	}
}

// decodeValid decodes and validates every record, as a bulk run does.
func decodeValid(t *testing.T, recs []bulkfile.Record) []*flexapi.LabelRequest {
	t.Helper()
	reqs := make([]*flexapi.LabelRequest, len(recs))
	for i, rec := range recs {
		require.NoError(t, rec.Err, "line %d", rec.Line)
		req, err := flexapi.ParseLabelRequest(rec.Data)
		require.NoError(t, err, "line %d: %s", rec.Line, rec.Data)
		reqs[i] = req
	}
	return reqs
}

func TestExamples_ConvertAndValidate(t *testing.T) {
	t.Parallel()
	csvFile, err := os.ReadFile("../../docs/examples/orders.csv")
	require.NoError(t, err)
	fromCSV := decodeValid(t, readCSV(t, string(csvFile)))
	ndFile, err := os.Open("../../docs/examples/orders.ndjson")
	require.NoError(t, err)
	defer ndFile.Close()
	fromND := decodeValid(t, readAll(t, bulkfile.NewNDJSON(ndFile)))

	require.Len(t, fromCSV, 5)
	require.Equal(t, fromCSV, fromND, "the two example files hold the same orders")

	keys := map[string]bool{}
	var zeroPostal, twoItems, twoStreetLines bool
	for _, r := range fromCSV {
		keys[r.IdempotencyKey] = true
		a := r.Shipment.ShipTo.Address
		zeroPostal = zeroPostal || a.PostalCode == "08817"
		twoStreetLines = twoStreetLines || len(a.StreetLines) == 2
		twoItems = twoItems || len(r.Shipment.Parcels[0].Items) == 2
	}
	require.Len(t, keys, 5, "idempotency keys are unique")
	require.True(t, zeroPostal, "a postal code keeps its leading zero")
	require.True(t, twoItems, "an order has two items")
	require.True(t, twoStreetLines, "an address has a second street line")
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("idempotencyKey,courier\nk1,yunexpress\n"))
	f.Add([]byte("idempotencyKey,shipment.parcels[0].weight,shipment.parcels[0].items[0].quantity,customs\nk,0.5,2,\"{\"\"a\"\":1}\"\n"))
	if b, err := os.ReadFile("../../docs/examples/orders.csv"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := bulkfile.NewCSV(bytes.NewReader(file))
		if err != nil {
			require.Nil(t, r)
			return
		}
		last := 1
		for {
			rec, err := r.Next()
			if err != nil {
				_, again := r.Next()
				require.Equal(t, err, again)
				return
			}
			require.Greater(t, rec.Line, last)
			last = rec.Line
			if rec.Err != nil {
				require.Nil(t, rec.Data)
				continue
			}
			require.True(t, json.Valid(rec.Data), "%q", rec.Data)
			// Stronger: every request built has the right shape.
			_, err = flexapi.DecodeLabelRequest(rec.Data)
			require.NoError(t, err, "%s", rec.Data)
		}
	})
}

func FuzzNDJSON(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{\"b\":2}\r\n"))
	f.Add([]byte("\xef\xbb\xbf{}\n  \nnot json\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		r := bulkfile.NewNDJSON(bytes.NewReader(file))
		last := 0
		for {
			rec, err := r.Next()
			if err != nil {
				require.ErrorIs(t, err, io.EOF, "only a long line is fatal, and fuzz inputs are short")
				return
			}
			require.NoError(t, rec.Err)
			require.Greater(t, rec.Line, last)
			last = rec.Line
			require.NotEmpty(t, bytes.Trim(rec.Data, " \t\r"), "blank (JSON whitespace) lines are skipped")
			require.NotContains(t, string(rec.Data), "\n")
			require.True(t, bytes.Contains(file, rec.Data), "Data is a line of the file")
		}
	})
}

// benchFile returns a CSV of n orders: the example file's rows, repeated
// under fresh idempotency keys.
func benchFile(b *testing.B, n int) []byte {
	file, err := os.ReadFile("../../docs/examples/orders.csv")
	require.NoError(b, err)
	lines := strings.Split(strings.TrimSpace(string(file)), "\n")
	var buf bytes.Buffer
	buf.Grow(n * (len(file) / len(lines)) * 11 / 10)
	buf.WriteString(lines[0] + "\n")
	for i := range n {
		row := lines[1+i%(len(lines)-1)]
		_, rest, _ := strings.Cut(row, ",")
		fmt.Fprintf(&buf, "ord-bench-%07d,%s\n", i, rest)
	}
	return buf.Bytes()
}

func BenchmarkCSV100k(b *testing.B) {
	const rows = 100_000
	file := benchFile(b, rows)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := bulkfile.NewCSV(bytes.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil || rec.Err != nil {
				b.Fatal(err, rec.Err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
}

func BenchmarkNDJSON100k(b *testing.B) {
	const rows = 100_000
	c, err := bulkfile.NewCSV(bytes.NewReader(benchFile(b, rows)))
	require.NoError(b, err)
	var file bytes.Buffer
	for _, rec := range readAll(b, c) {
		file.Write(rec.Data)
		file.WriteByte('\n')
	}
	b.SetBytes(int64(file.Len()))
	b.ReportAllocs()
	for b.Loop() {
		r := bulkfile.NewNDJSON(bytes.NewReader(file.Bytes()))
		n := 0
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
}

func TestBulkFormatDoc_ListsEveryColumn(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/BULK_FORMAT.md")
	require.NoError(t, err)
	cellWord := map[string]string{"a string": "text", "a number": "number", "a whole number": "whole number", "raw JSON": "raw JSON"}
	paths := bulkfile.LeafPaths()
	for path, kind := range paths {
		word, ok := cellWord[kind]
		require.True(t, ok, "%s: no word for %s", path, kind)
		require.Contains(t, string(doc), "| `"+path+"` | "+word+" |\n", "docs/BULK_FORMAT.md lacks the column")
	}
	var listed int
	for line := range strings.Lines(string(doc)) {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			path, _, _ := strings.Cut(rest, "`")
			require.Contains(t, paths, path, "docs/BULK_FORMAT.md lists a column the request does not have")
			listed++
		}
	}
	require.Equal(t, len(paths), listed)
}
