package bulkfile

// LeafPaths lists every path a CSV column can name, with [N] for an index,
// and what its cells become ("a string", "a number", "raw JSON"…).
func LeafPaths() map[string]string {
	paths := map[string]string{}
	var walk func(prefix string, s *schema)
	walk = func(prefix string, s *schema) {
		switch s.kind {
		case kindObject:
			for _, f := range s.fields {
				p := f.name
				if prefix != "" {
					p = prefix + "." + f.name
				}
				walk(p, f.s)
			}
		case kindArray:
			walk(prefix+"[N]", s.elem)
		default:
			paths[prefix] = s.kind.String()
		}
	}
	walk("", requestSchema())
	return paths
}
