//go:build !purego

package dtmf

// goertzelAVX2 is the kernel for x86-64 CPUs with AVX2 and FMA: the eight
// filters run side by side in one vector register, and the first 26 and
// last 25 samples run as two independent chains, joined at the end, so
// that each chain's fused multiply-add latency overlaps the other's.
//
//go:noescape
func goertzelAVX2(x *[hopLen]float32, k *kernel, s1, s2 *[8]float32)

// convertAVX2 converts n samples, n a multiple of 8, from src to dst and
// returns their energy.
//
//go:noescape
func convertAVX2(dst *float32, src *int16, n int) float32

// copy16AVX2 is copy16 with the bulk of the work in convertAVX2.
func copy16AVX2(dst []float32, src []int16, energy *float32) int {
	n := min(len(dst), len(src))
	m := n &^ 7
	if m > 0 {
		*energy += convertAVX2(&dst[0], &src[0], m)
	}
	return m + copy16Generic(dst[m:n], src[m:n], energy)
}

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax, edx uint32)

func init() {
	if hasAVX2FMA() {
		goertzel = goertzelAVX2
		copy16 = copy16AVX2
	}
}

// hasAVX2FMA reports whether the CPU has AVX2 and FMA and the operating
// system saves the vector registers.
func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // XMM and YMM state
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0 // AVX2
}
