package flexapi

import "encoding/json"

// LabelRequest is the body of POST /labels, mirroring the documented JSON exactly.
// Objects whose inner schema the API does not document are carried as raw JSON,
// untouched. Phones and postal codes are strings so leading zeros survive.
type LabelRequest struct {
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	Courier        string          `json:"courier,omitempty"`
	Service        *Service        `json:"service,omitempty"`
	Shipment       *Shipment       `json:"shipment,omitempty"`
	Label          *LabelOptions   `json:"label,omitempty"`
	Units          *Units          `json:"units,omitempty"`
	Order          *Order          `json:"order,omitempty"`
	Customs        json.RawMessage `json:"customs,omitempty"`
	ServiceOptions []ServiceOption `json:"serviceOptions,omitempty"`
	DangerousGoods json.RawMessage `json:"dangerousGoods,omitempty"`
	Pickup         json.RawMessage `json:"pickup,omitempty"`
	CourierOptions json.RawMessage `json:"courierOptions,omitempty"`
}

// Service selects the courier's shipping product.
type Service struct {
	ProductCode string `json:"productCode,omitempty"`
}

// LabelOptions selects the label document format, e.g. {"format":"PDF"}.
type LabelOptions struct {
	Format string `json:"format,omitempty"`
}

// Units names the units of weights and dimensions, e.g. KG and CM.
type Units struct {
	Weight    string `json:"weight,omitempty"`
	Dimension string `json:"dimension,omitempty"`
}

// Order carries the producer's order numbers.
type Order struct {
	CustomerOrderNumber string        `json:"customerOrderNumber,omitempty"`
	OrderNumbers        *OrderNumbers `json:"orderNumbers,omitempty"`
}

// OrderNumbers are the platform and reference numbers of an order.
type OrderNumbers struct {
	PlatformOrderNumber string   `json:"platformOrderNumber,omitempty"`
	ReferenceNumbers    []string `json:"referenceNumbers,omitempty"`
}

// ServiceOption is one {code, value} pair; value's schema is undocumented.
type ServiceOption struct {
	Code  string          `json:"code,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Shipment is who ships what to whom.
type Shipment struct {
	ShipTo   *Party   `json:"shipTo,omitempty"`
	ShipFrom *Party   `json:"shipFrom,omitempty"`
	Parcels  []Parcel `json:"parcels,omitempty"`
}

// Party is a sender or recipient.
type Party struct {
	Contact *Contact `json:"contact,omitempty"`
	Address *Address `json:"address,omitempty"`
}

// Contact is a person; Phone is a string so leading zeros and '+' survive.
type Contact struct {
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
}

// Address is a postal address; PostalCode is a string ("08817").
type Address struct {
	StreetLines []string `json:"streetLines,omitempty"`
	City        string   `json:"city,omitempty"`
	State       string   `json:"state,omitempty"`
	PostalCode  string   `json:"postalCode,omitempty"`
	CountryCode string   `json:"countryCode,omitempty"`
}

// Parcel is one box with its weight, dimensions and contents.
type Parcel struct {
	Weight    float64    `json:"weight,omitempty"`
	Dimension *Dimension `json:"dimension,omitempty"`
	Items     []Item     `json:"items,omitempty"`
}

// Dimension is a parcel's size in Units.Dimension.
type Dimension struct {
	Length float64 `json:"length,omitempty"`
	Width  float64 `json:"width,omitempty"`
	Height float64 `json:"height,omitempty"`
}

// Item is one line of a parcel's contents.
type Item struct {
	DescriptionEn    string  `json:"descriptionEn,omitempty"`
	DescriptionLocal string  `json:"descriptionLocal,omitempty"`
	Quantity         int     `json:"quantity,omitempty"`
	UnitPrice        *Money  `json:"unitPrice,omitempty"`
	UnitWeight       float64 `json:"unitWeight,omitempty"`
}

// Money is an amount in a currency. Amount is a pointer so that a declared
// value of 0 (a free sample) is sent as 0 rather than left out.
type Money struct {
	Amount   *float64 `json:"amount,omitempty"`
	Currency string   `json:"currency,omitempty"`
}

// Label statuses as the API reports them.
const (
	StatusCreated = "created"
	StatusFailed  = "failed"
)

// Label is the API's answer to POST /labels (created, replayed, or failed at the courier).
type Label struct {
	ID                    string      `json:"id"`
	Status                string      `json:"status"`
	Courier               string      `json:"courier,omitempty"`
	CourierOrderNumber    *string     `json:"courierOrderNumber"`
	CourierTrackingNumber *string     `json:"courierTrackingNumber"`
	Error                 *LabelError `json:"error"`

	// Replayed is true when the API answered 200: the key was used before and
	// this is the original result, not a new label.
	Replayed bool `json:"-"`
}

// LabelError is the error object inside a failed label.
type LabelError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// LabelDocument is one answer of GET /labels/{id}.
type LabelDocument struct {
	ID                  string `json:"id"`
	CustomerOrderNumber string `json:"customerOrderNumber,omitempty"`
	URL                 string `json:"url"`
	LabelFormat         string `json:"labelFormat,omitempty"`
}

// Tracking is the answer of GET /tracking/{id}.
type Tracking struct {
	ID             string       `json:"id"`
	TrackingNumber *string      `json:"trackingNumber"`
	Tag            string       `json:"tag"`
	Subtag         string       `json:"subtag"`
	SubtagMessage  string       `json:"subtagMessage"`
	Slug           string       `json:"slug"`
	Checkpoints    []Checkpoint `json:"checkpoints"`
}

// Checkpoint is one tracking event; the newest comes first.
type Checkpoint struct {
	CheckpointTime string  `json:"checkpointTime"`
	City           string  `json:"city"`
	State          string  `json:"state"`
	CountryRegion  string  `json:"countryRegion"`
	Location       *string `json:"location"`
	Message        string  `json:"message"`
	Tag            string  `json:"tag"`
	Subtag         string  `json:"subtag"`
	SubtagMessage  string  `json:"subtagMessage"`
	Slug           string  `json:"slug"`
}

// Tracking tags the API documents; any other is reported as TagUnknown.
const (
	TagPending      = "Pending"
	TagInfoReceived = "InfoReceived"
	TagInTransit    = "InTransit"
	TagDelivered    = "Delivered"
	TagException    = "Exception"
	TagCancelled    = "Cancelled"
	TagUnknown      = "Unknown"
)

// Courier is one entry of GET /couriers.
type Courier struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

// Detail is one field problem, in the API's details[] shape.
type Detail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}
