package flexapitest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
)

func TestTriggers_AnswerEveryTimeAndStoreNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		product string
		status  int
		reason  string // flexapi.Classify's verdict
	}{
		{flexapitest.InvalidProductCode, http.StatusBadRequest, flexapi.ReasonInvalid},
		{flexapitest.UnprocessableProductCode, http.StatusUnprocessableEntity, flexapi.ReasonRejected},
		{flexapitest.UnavailableProductCode, http.StatusInternalServerError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.product, func(t *testing.T) {
			t.Parallel()
			fake := flexapitest.NewTestServer(t, tok)
			c, err := flexapi.NewClient(fake.URL(), tok)
			require.NoError(t, err)
			req := body("trig-"+tt.product, "ord-"+tt.product, "10001", tt.product)
			for range 2 {
				a := call(t, "POST", fake.URL()+"/labels", tok, req)
				require.Equal(t, tt.status, a.status, "%s", a.raw)
				label, err := c.CreateLabelJSON(t.Context(), []byte(req))
				d := flexapi.Classify(label, err)
				require.Equal(t, tt.reason, d.Reason)
				if tt.reason == "" {
					require.Equal(t, flexapi.Transient, d.Class)
				}
			}
			if tt.status == http.StatusBadRequest {
				a := call(t, "POST", fake.URL()+"/labels", tok, req)
				require.Equal(t, "service.productCode", a.json(t)["details"].([]any)[0].(map[string]any)["field"])
			}
			l := fake.Ledger()
			require.Zero(t, l.LabelsCreated+l.LabelsFailed, "nothing stored")
			require.Zero(t, l.Replays)
		})
	}
}
