package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of every optimiser step. Steps count
// from 0: LR(0) is the rate of the first update, as a PyTorch scheduler's
// rate before its first step() call.
type Schedule interface {
	LR(step int) float64
}

// MomentumSchedule is a Schedule that also sets the momentum (SGD) or β₁
// (AdamW) of every step; the loop calls Optimizer.SetMomentum with it.
type MomentumSchedule interface {
	Schedule
	// Momentum is the momentum of step, and false when the schedule leaves
	// the optimiser's momentum alone.
	Momentum(step int) (float64, bool)
}

// Constant keeps the learning rate at Base.
type Constant struct{ Base float64 }

// LR returns Base.
func (s Constant) LR(int) float64 { return s.Base }

// Cosine anneals the learning rate from Base to Min over Steps steps, as
// torch.optim.lr_scheduler.CosineAnnealingLR with T_max = Steps and eta_min
// = Min, stepped once per optimiser step:
//
//	lr(t) = Min + (Base − Min)·(1 + cos(π·t/Steps))/2
type Cosine struct {
	Base, Min float64
	Steps     int
}

// LR returns the rate of step t.
func (s Cosine) LR(t int) float64 {
	if s.Steps <= 0 {
		return s.Base
	}
	return s.Min + (s.Base-s.Min)*(1+math.Cos(math.Pi*float64(t)/float64(s.Steps)))/2
}

// StepDecay multiplies the learning rate by Gamma every StepSize steps, as
// torch.optim.lr_scheduler.StepLR: lr(t) = Base·Gamma^⌊t/StepSize⌋.
type StepDecay struct {
	Base     float64
	StepSize int
	Gamma    float64
}

// LR returns the rate of step t.
func (s StepDecay) LR(t int) float64 {
	if s.StepSize <= 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(t/s.StepSize))
}

// OneCycle is torch.optim.lr_scheduler.OneCycleLR with cosine annealing
// (two phases): the rate rises from Max/DivFactor to Max over the first
// PctStart·Total − 1 steps, then falls to Max/(DivFactor·FinalDivFactor)
// at step Total − 1. With CycleMomentum the momentum moves the other way,
// from MaxMomentum down to BaseMomentum and back. NewOneCycle fills in
// PyTorch's defaults (momentum cycling off).
type OneCycle struct {
	Max            float64
	Total          int     // number of optimiser steps
	PctStart       float64 // fraction of Total spent rising
	DivFactor      float64 // initial rate = Max / DivFactor
	FinalDivFactor float64 // final rate = initial rate / FinalDivFactor
	CycleMomentum  bool
	BaseMomentum   float64
	MaxMomentum    float64
}

// NewOneCycle returns a one-cycle schedule peaking at max after the first
// pctStart of total steps, with PyTorch's div_factor 25 and
// final_div_factor 1e4, and momentum cycling off (PyTorch's bounds 0.85 and
// 0.95 are filled in for when it is switched on).
func NewOneCycle(max float64, total int, pctStart float64) *OneCycle {
	return &OneCycle{
		Max: max, Total: total, PctStart: pctStart,
		DivFactor: 25, FinalDivFactor: 1e4,
		BaseMomentum: 0.85, MaxMomentum: 0.95,
	}
}

// Check reports parameters that PyTorch would reject.
func (s *OneCycle) Check() error {
	switch {
	case s.Total <= 0:
		return fmt.Errorf("one-cycle schedule: %d total steps: must be positive", s.Total)
	case !(s.PctStart >= 0 && s.PctStart <= 1):
		return fmt.Errorf("one-cycle schedule: warm-up fraction %v: must be in [0, 1]", s.PctStart)
	case !(s.DivFactor > 0) || !(s.FinalDivFactor > 0):
		return fmt.Errorf("one-cycle schedule: div factors %v, %v: must be positive", s.DivFactor, s.FinalDivFactor)
	}
	// PyTorch divides by the length of each phase.
	if warm := s.PctStart*float64(s.Total) - 1; warm == 0 || float64(s.Total-1) == warm {
		return fmt.Errorf("one-cycle schedule: a warm-up of %v×%d steps leaves a phase of zero length", s.PctStart, s.Total)
	}
	return nil
}

// phase finds step's phase and the fraction of it done: PyTorch's phase
// boundaries are the floats PctStart·Total − 1 and Total − 1.
func (s *OneCycle) phase(step int) (rising bool, pct float64) {
	warm := s.PctStart*float64(s.Total) - 1
	t := float64(step)
	if t <= warm {
		return true, t / warm
	}
	return false, (t - warm) / (float64(s.Total-1) - warm)
}

// LR returns the rate of step.
func (s *OneCycle) LR(step int) float64 {
	initial := s.Max / s.DivFactor
	final := initial / s.FinalDivFactor
	rising, pct := s.phase(step)
	if rising {
		return annealCos(initial, s.Max, pct)
	}
	return annealCos(s.Max, final, pct)
}

// Momentum returns the momentum of step when CycleMomentum is set.
func (s *OneCycle) Momentum(step int) (float64, bool) {
	if !s.CycleMomentum {
		return 0, false
	}
	rising, pct := s.phase(step)
	if rising {
		return annealCos(s.MaxMomentum, s.BaseMomentum, pct), true
	}
	return annealCos(s.BaseMomentum, s.MaxMomentum, pct), true
}

// annealCos goes from start (pct 0) to end (pct 1) along half a cosine, in
// PyTorch's order of operations.
func annealCos(start, end, pct float64) float64 {
	return end + (start-end)/2*(math.Cos(math.Pi*pct)+1)
}
