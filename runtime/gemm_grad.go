package runtime

import (
	"github.com/dcnet-go/dcnet/internal/gemm"
)

// Backward of Gemm and MatMul, as products of the output gradient with the
// other operand:
//
//	Y = α·op(A)·op(B) + β·C:  d op(A) = α·dY·op(B)ᵀ,  d op(B) = α·op(A)ᵀ·dY,  dC = β·Σ dY
//
// (transposed back when A or B is stored transposed; C's gradient is summed
// over the axes it is broadcast along). MatMul sums the products of the
// batches that share an operand matrix, in batch order.

func registerGemmGrad(r *Registry) {
	r.RegisterGrad("", "Gemm", 7, buildGemmGrad)
	r.RegisterGrad("", "MatMul", 1, func(g *GradNode) (GradKernel, error) { return &matMulGrad{need: g.Need}, nil })
}

type gemmGrad struct {
	alpha, beta    float32
	transA, transB bool
	need           []bool
}

func buildGemmGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*gemmKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &gemmGrad{alpha: k.alpha, beta: k.beta, transA: k.transA, transB: k.transB, need: g.Need}, nil
}

func (k *gemmGrad) Saves() (inputs, outputs []bool) {
	return []bool{needs(k.need, 1), needs(k.need, 0)}, nil
}

func (k *gemmGrad) Backward(rc *RunContext, g *GradArgs) error {
	dy := g.DOut[0]
	m, n := dy.shape[0], dy.shape[1]
	for i, t := range g.In[:2] {
		if t != nil && t.dtype != Float32 {
			return rc.Errorf("backward: input %d: element type %v is not supported (FLOAT only)", i, t.dtype)
		}
	}
	kk := g.InShapes[0][1]
	if k.transA {
		kk = g.InShapes[0][0]
	}
	dys := dy.Float32s()
	th := rc.Threads()
	if needs(k.need, 0) {
		b := g.In[1].Float32s()
		ldb := g.InShapes[1][1]
		da := rc.New(Float32, g.InShapes[0]...)
		if !k.transA {
			// dA [M, K] = α·dY·op(B)ᵀ; op(B)ᵀ is B stored transposed unless transB.
			gemm.Sgemm(false, !k.transB, m, kk, n, k.alpha, dys, n, b, ldb, 0, da.Float32s(), kk, th)
		} else {
			// dA [K, M] = α·op(B)·dYᵀ.
			gemm.Sgemm(k.transB, true, kk, m, n, k.alpha, b, ldb, dys, n, 0, da.Float32s(), m, th)
		}
		g.DIn[0] = da
	}
	if needs(k.need, 1) {
		a := g.In[0].Float32s()
		lda := g.InShapes[0][1]
		db := rc.New(Float32, g.InShapes[1]...)
		if !k.transB {
			// dB [K, N] = α·op(A)ᵀ·dY.
			gemm.Sgemm(!k.transA, false, kk, n, m, k.alpha, a, lda, dys, n, 0, db.Float32s(), n, th)
		} else {
			// dB [N, K] = α·dYᵀ·op(A).
			gemm.Sgemm(true, k.transA, n, kk, m, k.alpha, dys, n, a, lda, 0, db.Float32s(), kk, th)
		}
		g.DIn[1] = db
	}
	if needs(k.need, 2) {
		dc := sumToShape(rc, dy, g.InShapes[2])
		if k.beta != 1 {
			dc = scaled(rc, dc, k.beta)
		}
		g.DIn[2] = dc
	}
	return nil
}

// matMulGrad is MatMul's backward.
type matMulGrad struct{ need []bool }

func (k *matMulGrad) Saves() (inputs, outputs []bool) {
	return []bool{needs(k.need, 1), needs(k.need, 0)}, nil
}

func (k *matMulGrad) Backward(rc *RunContext, g *GradArgs) error {
	s, err := matMulGeometry(g.InShapes[0], g.InShapes[1])
	if err != nil {
		return rc.Errorf("%v", err)
	}
	for i, t := range g.In[:2] {
		if t != nil && t.dtype != Float32 {
			return rc.Errorf("backward: input %d: element type %v is not supported (FLOAT only)", i, t.dtype)
		}
	}
	dy := g.DOut[0].Float32s()
	th := rc.Threads()
	if needs(k.need, 0) {
		b := g.In[1].Float32s()
		da := rc.NewZeroed(Float32, g.InShapes[0]...)
		dv := da.Float32s()
		if s.aFold {
			gemm.Sgemm(false, true, s.batch*s.m, s.k, s.n, 1, dy, s.n, b, s.n, 0, dv, s.k, th)
		} else {
			for t := range s.batch {
				ao, bo, yo := s.offsets(t)
				gemm.Sgemm(false, true, s.m, s.k, s.n, 1, dy[yo:], s.n, b[bo:], s.n, 1, dv[ao:], s.k, th)
			}
		}
		g.DIn[0] = da
	}
	if needs(k.need, 1) {
		a := g.In[0].Float32s()
		db := rc.NewZeroed(Float32, g.InShapes[1]...)
		dv := db.Float32s()
		if s.aFold {
			gemm.Sgemm(true, false, s.k, s.n, s.batch*s.m, 1, a, s.k, dy, s.n, 0, dv, s.n, th)
		} else {
			for t := range s.batch {
				ao, bo, yo := s.offsets(t)
				gemm.Sgemm(true, false, s.k, s.n, s.m, 1, a[ao:], s.k, dy[yo:], s.n, 1, dv[bo:], s.n, th)
			}
		}
		g.DIn[1] = db
	}
	return nil
}
