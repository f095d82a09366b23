// Package bulkfile reads the files of a bulk label run — thousands to
// millions of orders — one request at a time, so memory stays flat however
// large the file is.
//
// A Reader yields Records: the JSON body of one POST /labels request, or a
// problem with that one record (Record.Err), which the caller refuses as
// invalid while the run goes on. An error returned by Next itself is fatal:
// the file cannot be read on (an I/O error, a line longer than MaxLineBytes,
// a quote left open across lines). Next returns io.EOF at the end.
//
// Two formats exist. NDJSON (NewNDJSON) holds one request per line, passed
// through untouched; the caller decodes and validates it with flexapi.
// CSV (NewCSV) has a header row of JSON paths into the request
// (shipment.parcels[0].items[1].quantity) and one order per row. The valid
// paths are derived from flexapi.LabelRequest by reflection over its json
// tags, so the format follows the type. NewCSV checks the whole header at
// once and compiles it into a per-column plan: each row is then converted
// without reflection, by typing every cell for its field (numbers where the
// Go field is numeric, raw JSON where it is json.RawMessage, strings
// everywhere else), marking which objects and arrays the row fills, and
// writing the JSON in struct-field order. A row with bad cells is a
// *RowError that also carries the problems of the request its other cells
// make (flexapi's rules), and Details gives them all in the API's details[]
// shape, so a refused row is told everything at once. docs/BULK_FORMAT.md is
// the user-facing description of the format.
//
// Detect picks the format from a --format flag or the file's extension.
package bulkfile
