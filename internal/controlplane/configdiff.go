package controlplane

import (
	"reflect"

	"google.golang.org/protobuf/proto"

	"github.com/halyard-mesh/halyard/internal/config"
)

// onlyRoutesChanged reports whether two configurations differ in their
// VirtualServices at most: every other kind has the same objects (name,
// namespace, labels, annotations and spec; where in which file they are
// does not count) and the mesh config is the same. A push for such a
// change rebuilds only what VirtualServices shape (xds.ReuseUnrouted).
func onlyRoutesChanged(old, cur *config.Snapshot) bool {
	if old == nil || cur == nil || !proto.Equal(old.Mesh, cur.Mesh) {
		return false
	}
	a, b := reflect.ValueOf(old).Elem(), reflect.ValueOf(cur).Elem()
	for i := range a.NumField() {
		switch a.Type().Field(i).Name {
		case "VirtualServices", "Mesh", "NotApplied":
			continue
		}
		if !sameObjects(a.Field(i), b.Field(i)) {
			return false
		}
	}
	return true
}

// sameObjects compares two []config.Object[T] values.
func sameObjects(a, b reflect.Value) bool {
	if a.Kind() != reflect.Slice || a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		x, y := a.Index(i), b.Index(i)
		mx, my := x.FieldByName("Meta").Interface().(config.Meta), y.FieldByName("Meta").Interface().(config.Meta)
		mx.Source, my.Source = config.Source{}, config.Source{}
		if !reflect.DeepEqual(mx, my) {
			return false
		}
		sx, sy := x.FieldByName("Spec").Interface(), y.FieldByName("Spec").Interface()
		if px, ok := sx.(proto.Message); ok {
			py, _ := sy.(proto.Message)
			if !proto.Equal(px, py) {
				return false
			}
		} else if !reflect.DeepEqual(sx, sy) {
			return false
		}
	}
	return true
}
