package config

import "strings"

// checkSupport warns once about every field that is set but that Halyard
// does not act on: at the root of an unsupported subtree, once per concrete
// path (spec.http[0].retries and spec.http[1].retries are two warnings).
func checkSupport(c *docCtx, visits []visit, rules []fieldRule) {
	var warned []string
	for _, v := range visits {
		if !v.set || underAny(v.path.concrete, warned) {
			continue
		}
		if r, found := ruleFor(v.path.pattern, rules); found {
			if r.status == ignoredLocally {
				c.warnAt(v.line, v.path.concrete, msgNoEffect)
				warned = append(warned, v.path.concrete)
			}
			continue
		}
		if ancestorOfRule(v.path.pattern, rules) {
			continue
		}
		c.warnAt(v.line, v.path.concrete, msgNotSupported)
		warned = append(warned, v.path.concrete)
	}
}

// ruleFor returns the most specific rule covering pattern: the rule for the
// field itself or for one of its ancestors.
func ruleFor(pattern string, rules []fieldRule) (fieldRule, bool) {
	var best fieldRule
	found := false
	for _, r := range rules {
		if (r.path == pattern || isUnder(pattern, r.path)) && len(r.path) >= len(best.path) {
			best, found = r, true
		}
	}
	return best, found
}

// ancestorOfRule says whether some rule is for a field below pattern.
func ancestorOfRule(pattern string, rules []fieldRule) bool {
	for _, r := range rules {
		if isUnder(r.path, pattern) {
			return true
		}
	}
	return false
}

// isUnder says whether path is strictly below ancestor: a.b[0].c is under
// a.b and a.b[0], not under a.bc.
func isUnder(path, ancestor string) bool {
	if !strings.HasPrefix(path, ancestor) || len(path) == len(ancestor) {
		return false
	}
	next := path[len(ancestor)]
	return next == '.' || next == '['
}

func underAny(path string, roots []string) bool {
	for _, r := range roots {
		if isUnder(path, r) {
			return true
		}
	}
	return false
}
