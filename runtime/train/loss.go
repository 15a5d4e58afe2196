package train

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/runtime"
)

// CrossEntropy is the softmax cross-entropy of logits [N, K] against class
// labels [N] in [0, K), averaged over the batch, with label smoothing ε as
// in torch.nn.functional.cross_entropy(label_smoothing=ε): the target of
// sample i is q = (1 − ε)·onehot(yᵢ) + ε/K and its loss −Σ_k q_k·log p_k,
// p = softmax(logits_i). It returns the loss and dLogits [N, K] =
// (p − q)/N.
func CrossEntropy(logits *runtime.Tensor, labels []int, smoothing float64) (float64, *runtime.Tensor, error) {
	loss, grad, err := crossEntropy(logits, labels, smoothing)
	if err != nil {
		return 0, nil, err
	}
	return loss, round32(logits.Shape(), grad), nil
}

// crossEntropy is CrossEntropy with the gradient in float64.
func crossEntropy(logits *runtime.Tensor, labels []int, smoothing float64) (float64, []float64, error) {
	n, k, err := logitsShape("logits", logits)
	if err != nil {
		return 0, nil, err
	}
	if len(labels) != n {
		return 0, nil, fmt.Errorf("cross-entropy: %d labels for %d rows of logits", len(labels), n)
	}
	if !(smoothing >= 0 && smoothing <= 1) {
		return 0, nil, fmt.Errorf("cross-entropy: label smoothing %v: must be in [0, 1]", smoothing)
	}
	x := logits.Float32s()
	grad := make([]float64, n*k)
	logp := make([]float64, k)
	var total float64
	for i, y := range labels {
		if y < 0 || y >= k {
			return 0, nil, fmt.Errorf("cross-entropy: label %d of sample %d is outside [0, %d)", y, i, k)
		}
		logSoftmax(logp, x[i*k:(i+1)*k], 1)
		var sumLogp float64
		for _, v := range logp {
			sumLogp += v
		}
		total += -(1-smoothing)*logp[y] - smoothing/float64(k)*sumLogp
		g := grad[i*k : (i+1)*k]
		for c, v := range logp {
			q := smoothing / float64(k)
			if c == y {
				q += 1 - smoothing
			}
			g[c] = (math.Exp(v) - q) / float64(n)
		}
	}
	return total / float64(n), grad, nil
}

// round32 rounds a float64 gradient to a float32 tensor of shape.
func round32(shape []int, g []float64) *runtime.Tensor {
	out := make([]float32, len(g))
	for i, v := range g {
		out[i] = float32(v)
	}
	return runtime.New(shape, out)
}

// Distillation is Hinton's knowledge-distillation loss of student logits
// [N, K] against teacher logits [N, K] at temperature T > 0, averaged over
// the batch:
//
//	T² · Σ_k p_k·(log p_k − log s_k),  p = softmax(t/T), s = softmax(x/T)
//
// which is torch's F.kl_div(F.log_softmax(x/T), F.softmax(t/T),
// reduction="batchmean")·T². The T² factor keeps the gradient's scale
// independent of T. It returns the loss and dLogits [N, K] = T·(s − p)/N.
func Distillation(student, teacher *runtime.Tensor, temperature float64) (float64, *runtime.Tensor, error) {
	loss, grad, err := distillation(student, teacher, temperature)
	if err != nil {
		return 0, nil, err
	}
	return loss, round32(student.Shape(), grad), nil
}

// distillation is Distillation with the gradient in float64.
func distillation(student, teacher *runtime.Tensor, temperature float64) (float64, []float64, error) {
	n, k, err := logitsShape("student logits", student)
	if err != nil {
		return 0, nil, err
	}
	if tn, tk, err := logitsShape("teacher logits", teacher); err != nil {
		return 0, nil, err
	} else if tn != n || tk != k {
		return 0, nil, fmt.Errorf("distillation: teacher logits [%d, %d] for student logits [%d, %d]", tn, tk, n, k)
	}
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return 0, nil, fmt.Errorf("distillation: temperature %v: must be finite and > 0", temperature)
	}
	x, t := student.Float32s(), teacher.Float32s()
	grad := make([]float64, n*k)
	logs, logp := make([]float64, k), make([]float64, k)
	var total float64
	for i := range n {
		logSoftmax(logs, x[i*k:(i+1)*k], temperature)
		logSoftmax(logp, t[i*k:(i+1)*k], temperature)
		g := grad[i*k : (i+1)*k]
		for c := range k {
			p := math.Exp(logp[c])
			if p > 0 {
				total += p * (logp[c] - logs[c])
			}
			g[c] = temperature * (math.Exp(logs[c]) - p) / float64(n)
		}
	}
	return temperature * temperature * total / float64(n), grad, nil
}

// logitsShape checks that t is float32 [N, K] with N, K ≥ 1.
func logitsShape(what string, t *runtime.Tensor) (n, k int, err error) {
	if t == nil {
		return 0, 0, fmt.Errorf("%s: missing", what)
	}
	s := t.Shape()
	if t.DType() != runtime.Float32 || len(s) != 2 || s[0] < 1 || s[1] < 1 {
		return 0, 0, fmt.Errorf("%s: want float32 [N, K], got %v %v", what, t.DType(), s)
	}
	return s[0], s[1], nil
}

// logSoftmax writes log softmax(x/temperature) into dst, in float64.
func logSoftmax(dst []float64, x []float32, temperature float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v)/temperature)
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v)/temperature - m)
	}
	lse := m + math.Log(sum)
	for c, v := range x {
		dst[c] = float64(v)/temperature - lse
	}
}

// Loss combines the cross-entropy against labels and the distillation
// loss against a teacher's logits. With labels and teacher logits both
// given, the total is
//
//	(1 − DistillWeight)·CrossEntropy + DistillWeight·Distillation
//
// (DistillWeight 0.5 weighs them equally); with only one of them, that
// loss alone.
type Loss struct {
	Smoothing     float64 // label smoothing ε in [0, 1]
	Temperature   float64 // distillation temperature T > 0 (0 means 1)
	DistillWeight float64 // in [0, 1], used when both labels and a teacher are given
}

// LossValue is a batch's loss and its parts (a part not computed is 0).
type LossValue struct {
	Total, CrossEntropy, Distillation float64
}

// Compute returns the loss of logits [N, K] against labels [N] (nil for
// none) and teacher logits [N, K] (nil for none), and dLogits [N, K].
func (l Loss) Compute(logits *runtime.Tensor, labels []int, teacher *runtime.Tensor) (LossValue, *runtime.Tensor, error) {
	switch {
	case labels == nil && teacher == nil:
		return LossValue{}, nil, fmt.Errorf("loss: neither labels nor teacher logits")
	case teacher == nil:
		ce, g, err := CrossEntropy(logits, labels, l.Smoothing)
		return LossValue{Total: ce, CrossEntropy: ce}, g, err
	}
	temp := l.Temperature
	if temp == 0 {
		temp = 1
	}
	if labels == nil {
		kd, g, err := Distillation(logits, teacher, temp)
		return LossValue{Total: kd, Distillation: kd}, g, err
	}
	w := l.DistillWeight
	if !(w >= 0 && w <= 1) {
		return LossValue{}, nil, fmt.Errorf("loss: distillation weight %v: must be in [0, 1]", w)
	}
	kd, gkd, err := distillation(logits, teacher, temp)
	if err != nil {
		return LossValue{}, nil, err
	}
	ce, gce, err := crossEntropy(logits, labels, l.Smoothing)
	if err != nil {
		return LossValue{}, nil, err
	}
	for i := range gce {
		gce[i] = (1-w)*gce[i] + w*gkd[i]
	}
	return LossValue{Total: (1-w)*ce + w*kd, CrossEntropy: ce, Distillation: kd}, round32(logits.Shape(), gce), nil
}

// Correct counts the rows of logits [N, K] whose largest value (the first,
// on ties) is at the label's index.
func Correct(logits *runtime.Tensor, labels []int) int {
	n, k, err := logitsShape("logits", logits)
	if err != nil || len(labels) != n {
		return 0
	}
	x := logits.Float32s()
	correct := 0
	for i, y := range labels {
		if Argmax(x[i*k:(i+1)*k]) == y {
			correct++
		}
	}
	return correct
}

// Argmax is the index of the largest value of row, such as the class a
// row of logits or probabilities predicts (the first, on ties; NaN never
// wins). It is 0 for an empty row.
func Argmax[T float32 | float64](row []T) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}
