package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/convert"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "list a model's operators, its Conv and DecoupledConv layers and their parameters",
		ArgsUsage: "MODEL",
		Description: `Reads MODEL and prints its IR version, opsets, a histogram of operator types
(most frequent first), its model-local functions, its parameter count
(elements of all initializers), and one line per Conv or DecoupledConv node:
declared input and output shapes, weight shape [M, C/group, kH, kW], group,
strides, pads, dilations, the number of parameters of the layer and, for
DecoupledConv, its operator (magnitude:angular, weighted) with the range of
alpha, rho (when the magnitude uses it) and beta (likewise).`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"},
		},
		Action: runInspect,
	}
}

func runInspect(_ context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return fmt.Errorf("inspect: want exactly one MODEL argument, got %d", cmd.Args().Len())
	}
	path := cmd.Args().First()
	m, _, err := loadModel(path)
	if err != nil {
		return err
	}
	s, err := convert.Inspect(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if cmd.Bool("json") {
		enc := json.NewEncoder(cmd.Root().Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return s.WriteText(cmd.Root().Writer)
}
