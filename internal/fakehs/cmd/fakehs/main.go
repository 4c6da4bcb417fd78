// Command fakehs runs the fake homeserver as its own process, so a benchmark
// can count the bridge's CPU time without the fake's. It prints its URL on
// the first line of stdout and runs until killed.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/isthmus-bridge/isthmus/internal/fakehs"
)

func main() {
	hs := fakehs.New()
	defer hs.Close()
	fmt.Println(hs.URL)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
