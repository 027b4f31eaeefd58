// Command corb is Corb's single binary: the topology tool, the operators, the
// connectors and the embedded development pipeline.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newApp().Run(ctx, os.Args); err != nil {
		if errors.Is(err, errUsage) { // the message names the command already
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "corb:", err)
		os.Exit(1)
	}
}

func newApp() *cli.Command {
	return &cli.Command{
		Name:         "corb",
		Version:      binaryVersion(),
		ArgValidator: checkArgs,
		Usage:        "stream-processing dataflow engine on Apache Kafka for video analytics in buildings",
		Description: `Corb turns camera video into person detections, room presence events and
commands, with every step an operator connected to the next by a Kafka topic.

Start with 'corb dev': the whole pipeline on an embedded broker, no setup needed.`,
		Commands: []*cli.Command{
			devCommand(),
			topologyCommand(),
			kindsCommand(),
			runCommand(),
			detectCommand(),
			ingestCommand(),
			tailCommand(),
			dlqCommand(),
			dashboardCommand(),
			commandCommand(),
			smsCommand(),
			versionCommand(),
		},
	}
}
