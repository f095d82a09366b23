package bulkfile

import (
	"errors"

	"github.com/flexlabel/flexlabel/flexapi"
)

// Details is the details[] of a Record.Err in the API's shape: for a
// *RowError each bad cell under its column's name (a request path), each
// problem of the row as a whole without a field, then the request's own
// problems; for any other error its message alone.
func Details(err error) []flexapi.Detail {
	var re *RowError
	if !errors.As(err, &re) {
		return []flexapi.Detail{{Message: err.Error()}}
	}
	out := make([]flexapi.Detail, 0, len(re.Problems)+len(re.Request))
	for _, p := range re.Problems {
		out = append(out, flexapi.Detail{Field: p.Name, Message: p.Message})
	}
	return append(out, re.Request...)
}

// requestProblems checks the request that the row's good cells make, its
// bad cells left out, with flexapi.ParseLabelRequest, so that a refused row
// reports the request's problems too (a weight of 0 next to a quantity of
// "two"). A problem about a bad cell's field, or under it, is left out: the
// cell's own problem says what is wrong there.
func (c *csvReader) requestProblems(rec []string, probs []Problem) []flexapi.Detail {
	bad := make(map[int]bool, len(probs))
	var cells []flexapi.Detail
	for _, p := range probs {
		if p.Column > 0 {
			bad[p.Column-1] = true
			cells = append(cells, flexapi.Detail{Field: c.plan.leaves[p.Column-1].path, Message: p.Message})
		}
	}
	clear(c.present)
	c.present[c.plan.root.id] = true
	for col, cell := range rec {
		if isBlank(cell) || bad[col] {
			continue
		}
		for n := c.plan.leaves[col]; n != nil && !c.present[n.id]; n = n.parent {
			c.present[n.id] = true
		}
	}
	// Keep each array's elements up to its first hole, so that every
	// element written keeps its index (and the paths of its problems).
	for _, a := range c.plan.arrays {
		hole := false
		for _, e := range a.children {
			hole = hole || !c.present[e.id]
			if hole {
				c.plan.walk(e, func(n *node) { c.present[n.id] = false })
			}
		}
	}
	out, ok := c.emit(c.out[:0], rec)
	c.out = out
	if !ok {
		return nil // a string that is not UTF-8: its cell is bad, so left out above
	}
	_, err := flexapi.ParseLabelRequest(out)
	var ve *flexapi.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	if rest := flexapi.MergeDetails(cells, ve.Details)[len(cells):]; len(rest) > 0 {
		return rest
	}
	return nil
}
