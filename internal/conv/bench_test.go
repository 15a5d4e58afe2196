package conv

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// layer is a named convolution layer of a real network (batch 1, 224×224 input).
type layer struct {
	name string
	g    Geometry
}

func square(c, hw, m, k, s, pad, group int) Geometry {
	return Geometry{C: c, H: hw, W: hw, M: m, KH: k, KW: k, SH: s, SW: s, DH: 1, DW: 1,
		PadTop: pad, PadLeft: pad, PadBottom: pad, PadRight: pad, Group: group}
}

// resnet18Layers are the distinct convolution shapes of torchvision's resnet18.
var resnet18Layers = []layer{
	{"conv1_7x7s2_3to64_224", square(3, 224, 64, 7, 2, 3, 1)},
	{"l1_3x3_64to64_56", square(64, 56, 64, 3, 1, 1, 1)},
	{"l2_3x3s2_64to128_56", square(64, 56, 128, 3, 2, 1, 1)},
	{"l2_3x3_128to128_28", square(128, 28, 128, 3, 1, 1, 1)},
	{"l2_ds1x1s2_64to128_56", square(64, 56, 128, 1, 2, 0, 1)},
	{"l3_3x3s2_128to256_28", square(128, 28, 256, 3, 2, 1, 1)},
	{"l3_3x3_256to256_14", square(256, 14, 256, 3, 1, 1, 1)},
	{"l3_ds1x1s2_128to256_28", square(128, 28, 256, 1, 2, 0, 1)},
	{"l4_3x3s2_256to512_14", square(256, 14, 512, 3, 2, 1, 1)},
	{"l4_3x3_512to512_7", square(512, 7, 512, 3, 1, 1, 1)},
	{"l4_ds1x1s2_256to512_14", square(256, 14, 512, 1, 2, 0, 1)},
}

// mobilenetV2Depthwise are the depthwise 3×3 layers of torchvision's mobilenet_v2, plus one of
// its pointwise expansions for comparison.
var mobilenetV2Depthwise = []layer{
	{"dw_32_112", square(32, 112, 32, 3, 1, 1, 32)},
	{"dw_96_112s2", square(96, 112, 96, 3, 2, 1, 96)},
	{"dw_144_56", square(144, 56, 144, 3, 1, 1, 144)},
	{"dw_144_56s2", square(144, 56, 144, 3, 2, 1, 144)},
	{"dw_192_28", square(192, 28, 192, 3, 1, 1, 192)},
	{"dw_192_28s2", square(192, 28, 192, 3, 2, 1, 192)},
	{"dw_384_14", square(384, 14, 384, 3, 1, 1, 384)},
	{"dw_576_14", square(576, 14, 576, 3, 1, 1, 576)},
	{"dw_576_14s2", square(576, 14, 576, 3, 2, 1, 576)},
	{"dw_960_7", square(960, 7, 960, 3, 1, 1, 960)},
	{"pw_24to144_56", square(24, 56, 144, 1, 1, 0, 1)},
}

// mnasnetDepthwise are depthwise layers of torchvision's mnasnet0_5 with few channels on large
// planes, and 5×5 kernels, and two of mobilenet_v3_small's.
var mnasnetDepthwise = []layer{
	{"dw_16_112", square(16, 112, 16, 3, 1, 1, 16)},
	{"dw_24_112s2", square(24, 112, 24, 3, 2, 1, 24)},
	{"dw_48_56", square(48, 56, 48, 3, 1, 1, 48)},
	{"dw5_48_56s2", square(48, 56, 48, 5, 2, 2, 48)},
	{"dw5_72_28", square(72, 28, 72, 5, 1, 2, 72)},
	{"dw5_576_7", square(576, 7, 576, 5, 1, 2, 576)},
	{"dw_72_56s2", square(72, 56, 72, 3, 2, 1, 72)}, // mobilenet_v3_small's
	{"dw_88_28", square(88, 28, 88, 3, 1, 1, 88)},
}

// stemLayers are the first convolutions of torchvision's CNNs: few input channels, stride 2.
var stemLayers = []layer{
	{"resnet_7x7s2_3to64_224", square(3, 224, 64, 7, 2, 3, 1)},
	{"squeezenet1_1_3x3s2_3to64_224", square(3, 224, 64, 3, 2, 0, 1)},
	{"squeezenet1_0_7x7s2_3to96_224", square(3, 224, 96, 7, 2, 0, 1)},
	{"mobilenet_v3_3x3s2_3to16_224", square(3, 224, 16, 3, 2, 1, 1)},
	{"mobilenet_v2_3x3s2_3to32_224", square(3, 224, 32, 3, 2, 1, 1)},
	{"shufflenet_3x3s2_3to24_224", square(3, 224, 24, 3, 2, 1, 1)},
	{"alexnet_11x11s4_3to64_224", square(3, 224, 64, 11, 4, 2, 1)},
}

func benchLayers(b *testing.B, layers []layer) { benchLayersWith(b, layers, Auto) }

// BenchmarkStems compares the algorithms on the stems.
func BenchmarkStems(b *testing.B) {
	for _, algo := range []Algorithm{Im2col, Direct, Stem} {
		b.Run(algo.String(), func(b *testing.B) { benchLayersWith(b, stemLayers, algo) })
	}
}

func benchLayersWith(b *testing.B, layers []layer, algo Algorithm) {
	for _, l := range layers {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", l.name, threads), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				p := newConvProblem(rng, l.g, 1, true, gemm.ActRelu)
				f := NewFilter(l.g, p.w, algo, true)
				y := make([]float32, l.g.OutputLen())
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for range b.N {
					f.Forward(l.g, p.x, y, 1, &p.ep, threads)
				}
				flops := float64(l.g.FLOPs()) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// Per CPU-second: what each busy core achieved, which stays meaningful when the
				// machine is shared and wall-clock time is not.
				b.ReportMetric(flops/(cpuSeconds()-cpu0)/1e9, "GFLOP/cpu-s")
			})
		}
	}
}

func BenchmarkResNet18(b *testing.B) { benchLayers(b, resnet18Layers) }

func BenchmarkMobileNetV2(b *testing.B) { benchLayers(b, mobilenetV2Depthwise) }

// resnet50Pointwise are the 1×1 convolutions of torchvision's resnet50: plain products whose
// column count (the image's pixels, 3136 down to 49) is often not a multiple of a panel.
var resnet50Pointwise = []layer{
	{"pw_64to256_56", square(64, 56, 256, 1, 1, 0, 1)},
	{"pw_256to64_56", square(256, 56, 64, 1, 1, 0, 1)},
	{"pw_512to128_28", square(512, 28, 128, 1, 1, 0, 1)},
	{"pw_256to1024_14", square(256, 14, 1024, 1, 1, 0, 1)},
	{"pw_1024to256_14", square(1024, 14, 256, 1, 1, 0, 1)},
	{"pw_512to2048_7", square(512, 7, 2048, 1, 1, 0, 1)},
	{"pw_2048to512_7", square(2048, 7, 512, 1, 1, 0, 1)},
	{"ds_1024to2048s2_14", square(1024, 14, 2048, 1, 2, 0, 1)},
}

func BenchmarkResNet50Pointwise(b *testing.B) { benchLayers(b, resnet50Pointwise) }

// fewChannelLayers are 3×3 unit-stride layers with few input channels (squeezenet's expand
// layers, a resnet stage-1 layer for scale), where Winograd's transforms weigh most.
var fewChannelLayers = []layer{
	{"sq_expand3x3_16to64_55", square(16, 55, 64, 3, 1, 1, 1)},
	{"sq_expand3x3_32to128_27", square(32, 27, 128, 3, 1, 1, 1)},
	{"sq_expand3x3_48to192_13", square(48, 13, 192, 3, 1, 1, 1)},
	{"sq_expand3x3_64to256_13", square(64, 13, 256, 3, 1, 1, 1)},
	{"l1_3x3_64to64_56", square(64, 56, 64, 3, 1, 1, 1)},
	{"inc_3x3_32to32_149", square(32, 149, 32, 3, 1, 0, 1)},
	{"inc_3x3_32to64_147", square(32, 147, 64, 3, 1, 1, 1)},
}

// inceptionLayers are Inception-v3's factorised 1×7 and 7×1 convolutions at 17×17 (289 pixels,
// eighteen full panels and one column) and a 3×3 at 8×8.
var inceptionLayers = []layer{
	{"i_1x7_192to192_17", Geometry{C: 192, H: 17, W: 17, M: 192, KH: 1, KW: 7, SH: 1, SW: 1, DH: 1, DW: 1, PadLeft: 3, PadRight: 3, Group: 1}},
	{"i_7x1_160to160_17", Geometry{C: 160, H: 17, W: 17, M: 160, KH: 7, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 3, PadBottom: 3, Group: 1}},
	{"i_3x3_384to384_8", square(384, 8, 384, 3, 1, 1, 1)},
}

func BenchmarkInception(b *testing.B) { benchLayers(b, inceptionLayers) }

// groupedLayers are ResNeXt-50 (32×4d) and RegNetY-400MF grouped 3×3 layers.
var groupedLayers = []layer{
	{"rx_g32_128_56", square(128, 56, 128, 3, 1, 1, 32)},
	{"rx_g32_256_28", square(256, 28, 256, 3, 1, 1, 32)},
	{"rx_g32_512_14", square(512, 14, 512, 3, 1, 1, 32)},
	{"rx_g32_1024_7", square(1024, 7, 1024, 3, 1, 1, 32)},
	{"rx_g32_256_56s2", square(256, 56, 256, 3, 2, 1, 32)},
	{"rg_g6_48_56s2", square(48, 56, 48, 3, 2, 1, 6)},
	{"rg_g13_104_28", square(104, 28, 104, 3, 1, 1, 13)},
}

// BenchmarkGrouped compares im2col with the direct algorithm on groupedLayers.
func BenchmarkGrouped(b *testing.B) {
	for _, algo := range []Algorithm{Im2col, Direct} {
		b.Run(algo.String(), func(b *testing.B) { benchLayersWith(b, groupedLayers, algo) })
	}
}

// BenchmarkFewChannels compares im2col with Winograd on fewChannelLayers.
func BenchmarkFewChannels(b *testing.B) {
	for _, algo := range []Algorithm{Im2col, Winograd} {
		b.Run(algo.String(), func(b *testing.B) { benchLayersWith(b, fewChannelLayers, algo) })
	}
}

// BenchmarkDepthwisePaths compares the channel-blocked depthwise path with the per-plane
// direct one on mobilenet_v2's depthwise layers.
func BenchmarkDepthwisePaths(b *testing.B) {
	for _, path := range []string{"blocked", "planes"} {
		b.Run(path, func(b *testing.B) {
			if path == "planes" {
				prev := activeRow.Load()
				plain := *prev
				plain.blocked = false
				activeRow.Store(&plain)
				defer activeRow.Store(prev)
			}
			benchLayers(b, mobilenetV2Depthwise[:len(mobilenetV2Depthwise)-1])
			benchLayers(b, mnasnetDepthwise)
		})
	}
}

// BenchmarkPatchPacker measures packing alone: the im2col overhead of a ResNet layer.
func BenchmarkPatchPacker(b *testing.B) {
	for _, l := range []layer{resnet18Layers[0], resnet18Layers[1], resnet18Layers[2], resnet18Layers[3], resnet18Layers[6], resnet18Layers[9]} {
		b.Run(l.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x := randFloats(rng, l.g.InputLen())
			pk := NewPatchPacker(l.g, x)
			const kc, nc, nr = 256, 512, 16
			dst := make([]float32, kc*nc)
			n := l.g.OutHW()
			k := l.g.K()
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for range b.N {
				for k0 := 0; k0 < k; k0 += kc {
					for j0 := 0; j0 < n; j0 += nc {
						pk.PackB(dst, k0, min(kc, k-k0), j0, min(nc, n-j0), nr)
					}
				}
			}
			b.ReportMetric(float64(k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
			b.ReportMetric(float64(k*n)*float64(b.N)/(cpuSeconds()-cpu0)/1e9, "Gvalues/cpu-s")
		})
	}
}

// cpuSeconds is the user and system CPU time of the process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkMaxPool measures ResNet's 3×3/2 max pool (pad 1) on its 64×112×112 stem output.
func BenchmarkMaxPool(b *testing.B) {
	for _, c := range []struct {
		name   string
		win    Window
		planes int
	}{
		{"3x3s2_112", Window{In: 112, K: 3, Stride: 2, Dilation: 1, PadBegin: 1, PadEnd: 1}, 64},
		{"3x3s2_147", Window{In: 147, K: 3, Stride: 2, Dilation: 1}, 64},              // Inception-v3's first
		{"3x3s2_17", Window{In: 17, K: 3, Stride: 2, Dilation: 1}, 768},               // and last
		{"3x3s2_111c", Window{In: 111, K: 3, Stride: 2, Dilation: 1, Ceil: true}, 64}, // squeezenet1_1's
		{"3x3s2_55c", Window{In: 55, K: 3, Stride: 2, Dilation: 1, Ceil: true}, 128},
		{"3x3s2_56c", Window{In: 56, K: 3, Stride: 2, Dilation: 1, Ceil: true}, 192}, // GoogLeNet's (partial windows)
		{"3x3s2_28c", Window{In: 28, K: 3, Stride: 2, Dilation: 1, Ceil: true}, 480},
		{"2x2s2_28", Window{In: 28, K: 2, Stride: 2, Dilation: 1}, 32 * 64}, // CNN9's first, 64 images
	} {
		g := NewPoolGeometry([]Window{c.win, c.win})
		rng := rand.New(rand.NewPCG(1, 1))
		x := randFloats(rng, c.planes*g.InLen())
		y := make([]float32, c.planes*g.OutLen())
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", c.name, threads), func(b *testing.B) {
				cpu0 := cpuSeconds()
				for range b.N {
					MaxPool(g, x, y, nil, false, c.planes, threads)
				}
				bytes := float64(len(x)*4) * float64(b.N)
				b.ReportMetric(bytes/b.Elapsed().Seconds()/1e9, "GB/s")
				b.ReportMetric(bytes/(cpuSeconds()-cpu0)/1e9, "GB/cpu-s")
			})
		}
	}
}

// winogradLayers are 3×3 unit-stride layers: resnet18's and CNN9's (28×28 Fashion-MNIST).
var winogradLayers = []layer{
	resnet18Layers[1], resnet18Layers[3], resnet18Layers[6], resnet18Layers[9],
	{"cnn9_3x3_32to32_28", square(32, 28, 32, 3, 1, 1, 1)},
	{"cnn9_3x3_64to64_14", square(64, 14, 64, 3, 1, 1, 1)},
	{"cnn9_3x3_128to128_7", square(128, 7, 128, 3, 1, 1, 1)},
}

// BenchmarkWinograd compares F(2×2, 3×3) with im2col on 3×3 unit-stride layers. GFLOP/s counts
// the direct convolution's operations for both, so it compares times.
func BenchmarkWinograd(b *testing.B) {
	for _, algo := range []Algorithm{Im2col, Winograd} {
		b.Run(algo.String(), func(b *testing.B) { benchLayersWith(b, winogradLayers, algo) })
	}
}

// BenchmarkOneChannel compares the algorithms on single-channel 3×3 layers (CNN9's first).
func BenchmarkOneChannel(b *testing.B) {
	layers := []layer{{"cnn9_3x3_1to32_28", square(1, 28, 32, 3, 1, 1, 1)}}
	for _, algo := range []Algorithm{Im2col, Direct} {
		b.Run(algo.String(), func(b *testing.B) { benchLayersWith(b, layers, algo) })
	}
}
