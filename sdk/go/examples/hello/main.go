// Command hello is a Wisp action written with the Go SDK. It greets
// params.name, and says which activation it is and how many activations
// its instance has served: always 1 in the command form, counting up in the
// reactor form, where one instance serves many activations of the action.
// Without a name it fails with an application error.
//
//	GOOS=wasip1 GOARCH=wasm go build -o hello.wasm .                      # command form
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .  # reactor form
package main

import (
	"context"
	"errors"
	"fmt"

	wisp "github.com/wispfaas/wisp/sdk/go"
)

// In is the action's parameters.
type In struct {
	Name string `json:"name"`
}

// Out is the action's result.
type Out struct {
	Greeting     string `json:"greeting"`
	ActivationID string `json:"activationId"`
	Action       string `json:"action"`
	Calls        int    `json:"calls"` // activations this instance has served
}

// calls survives from one activation to the next in the reactor form.
var calls int

func hello(ctx context.Context, in In) (Out, error) {
	calls++
	act, _ := wisp.FromContext(ctx)
	if in.Name == "" {
		// What a handler prints is logged too: in the reactor form as a
		// stdout line; in the command form, where stdout is the result,
		// the SDK sends it to stderr.
		fmt.Println("hello: no name in activation", act.ID)
		return Out{}, errors.New("hello: a name is required")
	}
	// A log line of the activation, on stderr. wisp.Log costs less than
	// fmt in a Wasm guest: one greeting, one line, as the C and
	// AssemblyScript examples log.
	wisp.Log("hello: greeting", in.Name, "in activation", act.ID, "call", calls)
	return Out{
		Greeting:     "Hello, " + in.Name + "!",
		ActivationID: act.ID,
		Action:       act.ActionName,
		Calls:        calls,
	}, nil
}

func init() { wisp.Handle(hello) }

func main() { wisp.Main() }
