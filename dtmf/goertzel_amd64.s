//go:build !purego

#include "textflag.h"

// One Goertzel step for eight filters: B = C·A + (x - B), with x broadcast
// from the sample at off(SI). After it, B holds s[n] and A s[n-1]: the
// next step is written with the two registers swapped.
#define STEP(off, A, B) \
	VBROADCASTSS off(SI), Y8 \
	VSUBPS       B, Y8, B    \
	VFMADD231PS  A, Y0, B

// func goertzelAVX2(x *[51]float32, k *kernel, s1, s2 *[8]float32)
TEXT ·goertzelAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ k+8(FP), DX
	MOVQ s1+16(FP), R8
	MOVQ s2+24(FP), R9
	VMOVUPS (DX), Y0          // c

	// Chain A runs samples 0-25 in Y1 (s[n-1]) and Y2 (s[n-2]);
	// chain B runs samples 26-50 in Y3 and Y4.
	VBROADCASTSS 0(SI), Y1
	VXORPS       Y2, Y2, Y2
	VBROADCASTSS 104(SI), Y3
	VXORPS       Y4, Y4, Y4

	// Twelve turns of two steps each: A takes samples 1-24, B 27-50.
	MOVQ $12, CX
	LEAQ 4(SI), SI
loop:
	STEP(0, Y1, Y2)
	STEP(104, Y3, Y4)
	STEP(4, Y2, Y1)
	STEP(108, Y4, Y3)
	LEAQ 8(SI), SI
	DECQ CX
	JNZ  loop

	// A's last sample, 25: then A's s[25] is in Y2 and s[24] in Y1.
	STEP(0, Y1, Y2)

	// Carry A's state over B's 25 samples and add B's own:
	// s1 = U25·s[25] - U24·s[24] + B's s1; s2 = U24·s[25] - U23·s[24] + B's s2.
	VMOVUPS      32(DX), Y5   // u25
	VMOVUPS      64(DX), Y6   // u24
	VMOVUPS      96(DX), Y7   // u23
	VFMADD231PS  Y2, Y5, Y3
	VFNMADD231PS Y1, Y6, Y3
	VFMADD231PS  Y2, Y6, Y4
	VFNMADD231PS Y1, Y7, Y4
	VMOVUPS      Y3, (R8)
	VMOVUPS      Y4, (R9)
	VZEROUPPER
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func convertAVX2(dst *float32, src *int16, n int) float32
// converts n samples, n a multiple of 8, and returns their energy.
TEXT ·convertAVX2(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	SHRQ $3, CX
	JZ   done
cloop:
	VPMOVSXWD   (SI), Y2
	VCVTDQ2PS   Y2, Y2
	VMOVUPS     Y2, (DI)
	VFMADD231PS Y2, Y2, Y0
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JZ   done
	VPMOVSXWD   (SI), Y3
	VCVTDQ2PS   Y3, Y3
	VMOVUPS     Y3, (DI)
	VFMADD231PS Y3, Y3, Y1
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  cloop
done:
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	MOVSS        X0, ret+24(FP)
	VZEROUPPER
	RET
