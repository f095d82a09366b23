package config

import (
	"reflect"
	"strings"
)

func reflectField(name string) (string, bool) {
	f, ok := reflect.TypeFor[Config]().FieldByName(name)
	if !ok {
		return "", false
	}
	tag, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return tag, tag != ""
}
