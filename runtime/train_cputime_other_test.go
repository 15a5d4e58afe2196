//go:build !unix

package runtime

// trainCPUSeconds is not measured on this platform.
func trainCPUSeconds() float64 { return 0 }
