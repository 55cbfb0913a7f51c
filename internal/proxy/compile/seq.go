package compile

// Seq yields the resources of one set in order. A resource that cannot be
// produced (it does not decode) ends the sequence with an error, and so
// does an error the consumer returns from yield. The *From compilers take
// a Seq, so that a proxy decodes each resource just before it is compiled
// and never holds the whole set decoded at once.
type Seq[T any] func(yield func(T) error) error

// SliceSeq is a Seq over resources already decoded.
func SliceSeq[T any](res []T) Seq[T] {
	return func(yield func(T) error) error {
		for _, r := range res {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}
}
