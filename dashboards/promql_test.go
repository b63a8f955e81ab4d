package dashboards_test

import (
	"fmt"
	"strings"
	"unicode"
)

// selector is one vector selector in a PromQL expression: its metric name and the label names it matches on.
type selector struct {
	Name   string
	Labels []string
}

// parsed is what the metric check needs from an expression.
type parsed struct {
	Selectors []selector
	Grouping  []string // labels in by/without/on/ignoring/group_left/group_right lists
}

// promqlKeywords are identifiers that are neither metrics nor functions.
var promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"atan2": true, "inf": true, "nan": true}

// aggregations may be followed by a by/without clause before their parenthesis.
var aggregations = map[string]bool{"sum": true, "avg": true, "count": true, "min": true, "max": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true, "count_values": true,
	"group": true, "limitk": true, "limit_ratio": true}

// groupingKeywords are followed by a parenthesised label list.
var groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true}

func isIdentStart(r byte) bool { return r == '_' || r == ':' || unicode.IsLetter(rune(r)) }
func isIdent(r byte) bool      { return isIdentStart(r) || (r >= '0' && r <= '9') }

// parsePromQL extracts vector selectors and grouping labels. It is not a full parser: the syntax is checked by
// promtool (TestPromtool); this only finds the names to check against what the services export.
func parsePromQL(expr string) (parsed, error) {
	var out parsed
	i := 0
	n := len(expr)
	skipSpace := func() {
		for i < n && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n' || expr[i] == '\r') {
			i++
		}
	}
	skipString := func() error {
		q := expr[i]
		i++
		for i < n && expr[i] != q {
			if expr[i] == '\\' && q != '`' {
				i++
			}
			i++
		}
		if i >= n {
			return fmt.Errorf("unterminated string in %q", expr)
		}
		i++
		return nil
	}
	ident := func() string {
		s := i
		for i < n && isIdent(expr[i]) {
			i++
		}
		return expr[s:i]
	}
	// matchers reads {a="x", b=~"y"} and returns the label names.
	matchers := func() ([]string, error) {
		i++ // {
		var labels []string
		for {
			skipSpace()
			if i >= n {
				return nil, fmt.Errorf("unterminated matcher in %q", expr)
			}
			if expr[i] == '}' {
				i++
				return labels, nil
			}
			if expr[i] == ',' {
				i++
				continue
			}
			if !isIdentStart(expr[i]) {
				return nil, fmt.Errorf("bad matcher at %d in %q", i, expr)
			}
			labels = append(labels, ident())
			skipSpace()
			for i < n && strings.ContainsRune("=!~", rune(expr[i])) {
				i++
			}
			skipSpace()
			if i >= n || (expr[i] != '"' && expr[i] != '\'' && expr[i] != '`') {
				return nil, fmt.Errorf("matcher without a value at %d in %q", i, expr)
			}
			if err := skipString(); err != nil {
				return nil, err
			}
		}
	}
	for i < n {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if err := skipString(); err != nil {
				return out, err
			}
		case c == '[': // range or subquery duration
			for i < n && expr[i] != ']' {
				i++
			}
			i++
		case c == '{': // selector without a metric name
			labels, err := matchers()
			if err != nil {
				return out, err
			}
			out.Selectors = append(out.Selectors, selector{Labels: labels})
		case c >= '0' && c <= '9' || c == '.':
			for i < n && (isIdent(expr[i]) || expr[i] == '.') {
				i++ // numbers, durations (1m) and exponents
			}
		case isIdentStart(c):
			name := ident()
			low := strings.ToLower(name)
			skipSpace()
			if groupingKeywords[low] {
				if i < n && expr[i] == '(' {
					i++
					for {
						skipSpace()
						if i >= n {
							return out, fmt.Errorf("unterminated label list in %q", expr)
						}
						if expr[i] == ')' {
							i++
							break
						}
						if expr[i] == ',' {
							i++
							continue
						}
						if !isIdentStart(expr[i]) {
							return out, fmt.Errorf("bad label list at %d in %q", i, expr)
						}
						out.Grouping = append(out.Grouping, ident())
					}
				}
				continue
			}
			if promqlKeywords[low] || aggregations[low] {
				continue
			}
			if i < n && expr[i] == '(' {
				continue // function or aggregation
			}
			sel := selector{Name: name}
			if i < n && expr[i] == '{' {
				labels, err := matchers()
				if err != nil {
					return out, err
				}
				sel.Labels = labels
			}
			out.Selectors = append(out.Selectors, sel)
		default:
			i++
		}
	}
	return out, nil
}
