package runtime

// VectorErf reports whether float32 Erf runs the vector kernel (within 4 ulp) rather than
// float64 math rounded once.
func VectorErf() bool { return erf32Vec != nil }
