// Package convert holds the graph passes that turn convolutional ONNX
// models into Decoupled Networks. It sits between package onnx (which reads
// and writes the models) and the commands (cmd/dcconvert); only
// calibration executes models.
//
// A conversion is a sequence of passes over a *onnx.ModelProto, each
// changing the model in place:
//
//  1. Rewrite (rewrite.go, select.go) replaces the selected 2-D Conv nodes
//     by ai.dcnet DecoupledConv nodes — the custom form — and gives each
//     rewritten layer parameter initializers of its own (bias, α, and ρ, β
//     when the operator uses them). With the Identity operator (linear:cos,
//     weighted, α = 1) the model computes what it computed before.
//  2. Calibrate (calibrate*.go) measures the layers on data and sets
//     their parameters with SetParams, layer by layer on the converted
//     network's own activations: ρ from a percentile of the patch norms,
//     α and bias (β for seg and mix) by least squares against the original
//     convolution. This is where operators other than the identity get
//     their parameters, and the one pass that executes models (with
//     package runtime and decop's DecoupledConv).
//  3. Convert chooses the output form: Custom leaves the DecoupledConv
//     nodes; Functions (functions.go) adds model-local function bodies of
//     standard operators, one per configuration, told apart by ONNX's
//     overload field; Expanded (expand.go) replaces the nodes by standard
//     operators inline, precomputing filter norms from constant weights.
//     Both write the same standard-operator body (portable.go), the
//     portable form of the operator's specification.
//
// Inspect (inspect.go) summarises a model's layers and operators, and Dump
// (dump.go) prints a graph as deterministic text for golden tests.
//
// Passes report every problem of a model at once (errors.Join), each error
// naming the node, and leave the model unchanged when they fail. Tensors
// stored as external data must be inlined first (onnx.LoadExternalData).
package convert
