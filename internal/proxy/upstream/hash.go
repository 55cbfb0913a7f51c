package upstream

// Hashing for the consistent-hash load balancers. Ring points and Maglev
// permutations must be the same in every proxy, so the hash is a fixed
// function (FNV-1a finished with a 64-bit avalanche mix), never a seeded
// runtime hash.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// HashString returns the 64-bit hash the proxy uses for hash keys (header
// values, cookies, source addresses) and ring points. It is stable across
// processes and versions.
func HashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix64(h)
}

// HashBytes is HashString for a byte slice.
func HashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 is a 64-bit finaliser with full avalanche: every input bit flips
// each output bit with probability close to 1/2. Pickers apply it to the
// route's hash too, so a weak key hash still spreads evenly.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// hashSeeded hashes s with a seed, for the two independent hashes of a
// Maglev permutation.
func hashSeeded(s string, seed uint64) uint64 {
	return mix64(HashString(s) ^ mix64(seed+0x9e3779b97f4a7c15))
}
