package netfault_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/soloist-dev/soloist/internal/dbtest/netfault"
)

// echo serves TCP on 127.0.0.1 and writes back what it reads. It stops when
// the test ends, after every connection has ended.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// TestHealWhileClientsWriteLeavesNoGoroutine heals a blackhole while clients
// keep writing through it: once the proxy is closed no goroutine of it is
// left, and new connections work after the heal. toxiproxy's own timeout
// toxic closes its stream on removal and leaves the link's first stage
// blocked forever on a send that nobody receives when data arrives after.
func TestHealWhileClientsWriteLeavesNoGoroutine(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after echo stops
	upstream := echo(t)
	for round := range 20 {
		p, err := netfault.New("leak", upstream)
		if err != nil {
			t.Fatal(err)
		}
		var clients sync.WaitGroup
		stop := make(chan struct{})
		for range 8 {
			c, err := net.Dial("tcp", p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			clients.Go(func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = c.SetDeadline(time.Now().Add(50 * time.Millisecond))
					if _, err := c.Write(buf); err != nil {
						return
					}
					if _, err := c.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
				}
			})
		}
		if err := p.Blackhole(); err != nil {
			t.Fatal(err)
		}
		p.Heal()
		close(stop)
		clients.Wait()
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatalf("round %d: a new connection after the heal: %v", round, err)
		}
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
			t.Fatalf("round %d: a new connection after the heal read %q, %v", round, got, errors.Join(err))
		}
		c.Close()
		p.Close()
	}
}
