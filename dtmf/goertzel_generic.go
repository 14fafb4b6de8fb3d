package dtmf

// goertzelFunc runs Goertzel's recurrence s[n] = x[n] + c·s[n-1] - s[n-2]
// over one half-window x for the eight coefficients c, and stores each
// filter's last two states, s[hopLen-1] in s1 and s[hopLen-2] in s2.
type goertzelFunc func(x *[hopLen]float32, k *kernel, s1, s2 *[8]float32)

// kernel holds the constants of the filter kernels.
type kernel struct {
	c [8]float32 // 2cos ω
	// u25, u24 and u23 are U_n(cos ω), Chebyshev polynomials of the
	// second kind: the homogeneous recurrence carries the state (s[m],
	// s[m-1]) n steps on to s[m+n] = U_n·s[m] - U_{n-1}·s[m-1]. The vector
	// kernel runs the two halves of its input as independent chains and
	// joins them with these.
	u25, u24, u23 [8]float32
}

// goertzel is the filter kernel in use: goertzelGeneric, or a vector
// version where the CPU has one.
var goertzel goertzelFunc = goertzelGeneric

// copy16 converts src into dst as float32, adds the samples' energy to
// *energy, and returns how many it copied: copy16Generic, or a vector
// version.
var copy16 = copy16Generic

// goertzelGeneric is the portable kernel. It writes the recurrence as
// c·s[n-1] + (x[n] - s[n-2]), so that each step's dependency chain is one
// multiply and one add, and runs the two groups of four filters in turn so
// that the compiler keeps every state in a register.
func goertzelGeneric(x *[hopLen]float32, k *kernel, s1, s2 *[8]float32) {
	goertzel4(x, k.c[0:4:4], s1[0:4:4], s2[0:4:4])
	goertzel4(x, k.c[4:8:8], s1[4:8:8], s2[4:8:8])
}

func goertzel4(x *[hopLen]float32, c, s1, s2 []float32) {
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	// a holds s[n-1] and b s[n-2]; each turn of two samples swaps roles.
	x0 := x[0]
	a0, a1, a2, a3 := x0, x0, x0, x0
	var b0, b1, b2, b3 float32
	for i := 1; i+1 < hopLen; i += 2 {
		u, v := x[i], x[i+1]
		b0 = c0*a0 + (u - b0)
		b1 = c1*a1 + (u - b1)
		b2 = c2*a2 + (u - b2)
		b3 = c3*a3 + (u - b3)
		a0 = c0*b0 + (v - a0)
		a1 = c1*b1 + (v - a1)
		a2 = c2*b2 + (v - a2)
		a3 = c3*b3 + (v - a3)
	}
	// hopLen is odd: after the pairs, a = s[hopLen-1] and b = s[hopLen-2].
	s1[0], s1[1], s1[2], s1[3] = a0, a1, a2, a3
	s2[0], s2[1], s2[2], s2[3] = b0, b1, b2, b3
}
