package bulkfile_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/bulkfile"
)

const allHeader = "idempotencyKey,courier,service.productCode,shipment.shipTo.address.countryCode," +
	"shipment.parcels[0].weight,shipment.parcels[0].items[0].quantity,shipment.parcels[1].weight\n"

// A bad cell no longer hides what is wrong with the rest of the row.
func TestCSV_BadCell_RequestProblemsReportedToo(t *testing.T) {
	t.Parallel()
	recs := readCSV(t, allHeader+"k1,yunexpress,HKMUZXR,USA,0,two,\n")
	require.Len(t, recs, 1)
	re := rowError(t, recs[0])
	require.Len(t, re.Problems, 1)
	require.Equal(t, 6, re.Problems[0].Column)
	require.Equal(t, []flexapi.Detail{
		{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "USA"`},
		{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
	}, re.Request)
	require.Equal(t, `line 2: column 6 "shipment.parcels[0].items[0].quantity": "two" is not a number (want a whole number, e.g. 2); `+
		`shipment.shipTo.address.countryCode: must be an ISO 3166-1 alpha-2 code, got "USA"; `+
		`shipment.parcels[0].weight: must be greater than 0`, re.Error())
	require.Equal(t, []flexapi.Detail{
		{Field: "shipment.parcels[0].items[0].quantity", Message: `"two" is not a number (want a whole number, e.g. 2)`},
		{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "USA"`},
		{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
	}, bulkfile.Details(recs[0].Err))
}

func TestCSV_BadCell_NotAlsoReportedByItsRule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, row string
		want      []flexapi.Detail
	}{
		{"a weight that is no number is not also not above 0", "k1,yunexpress,HKMUZXR,US,heavy,1,2\n", nil},
		{"missing fields next to a bad cell", ",,,,heavy,1,\n", []flexapi.Detail{
			{Field: "idempotencyKey", Message: "is required"},
			{Field: "courier", Message: "is required"},
			{Field: "service", Message: "is required"},
			{Field: "shipment.shipTo", Message: "is required"},
		}},
		// parcels[0] has only the bad weight, so parcels[1] is a hole's
		// neighbour: it is left out rather than renumbered to [0].
		{"an element after a hole keeps its index", "k1,yunexpress,HKMUZXR,US,heavy,,0\n", []flexapi.Detail{
			{Field: "shipment.parcels", Message: "must contain at least one parcel"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs := readCSV(t, allHeader+tc.row)
			require.Len(t, recs, 1)
			require.Equal(t, tc.want, rowError(t, recs[0]).Request)
		})
	}
}

func TestDetails_OtherErrors(t *testing.T) {
	t.Parallel()
	require.Equal(t, []flexapi.Detail{{Message: "boom"}}, bulkfile.Details(errors.New("boom")))
}
