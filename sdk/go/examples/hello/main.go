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
	// Both lines are log lines of the activation, in both forms: the SDK
	// keeps what the handler prints out of the result.
	wisp.Log("hello: activation", act.ID, "call", calls)
	if in.Name == "" {
		return Out{}, errors.New("hello: a name is required")
	}
	fmt.Printf("hello: greeting %s\n", in.Name)
	return Out{
		Greeting:     "Hello, " + in.Name + "!",
		ActivationID: act.ID,
		Action:       act.ActionName,
		Calls:        calls,
	}, nil
}

func init() { wisp.Handle(hello) }

func main() { wisp.Main() }
