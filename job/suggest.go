package job

import (
	"slices"
	"strings"
)

// suggest returns the candidate closest to word, if one is close enough to
// be a likely typo: the same apart from case, "_" and "-", or within an
// edit distance of 1 for short words and 2 for longer ones, without
// replacing the whole word.
func suggest(word string, candidates []string) (string, bool) {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 3
	for _, c := range sorted(candidates) {
		if norm(c) == norm(word) {
			return c, true
		}
		if d := editDistance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 1
	if len(word) > 4 {
		limit = 2
	}
	return best, best != "" && bestDist <= limit && bestDist < len(word)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sorted returns a sorted copy of s.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
