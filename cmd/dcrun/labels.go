package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/dcnet-go/dcnet/onnx"
)

// readLabels reads class names, one per line (blank lines at the end are
// ignored, surrounding spaces trimmed).
func readLabels(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	labels := splitLines(string(b))
	if len(labels) == 0 {
		return nil, fmt.Errorf("labels: %s holds no class names", path)
	}
	return labels, nil
}

func splitLines(s string) []string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// labelKeys are the model metadata keys read as class names.
var labelKeys = []string{"labels", "class_names", "classes"}

// modelLabels returns class names embedded in the model's metadata_props
// under one of labelKeys, as a JSON array of strings or one name per line;
// nil if there are none.
func modelLabels(m *onnx.ModelProto) []string {
	props := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	for _, k := range labelKeys {
		v, ok := props[k]
		if !ok {
			continue
		}
		var names []string
		if json.Unmarshal([]byte(v), &names) == nil && len(names) > 0 {
			return names
		}
		if names = splitLines(v); len(names) > 1 {
			return names
		}
	}
	return nil
}
