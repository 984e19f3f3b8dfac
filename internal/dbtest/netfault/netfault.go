// Package netfault puts a TCP proxy with injectable faults between a client
// and a server on 127.0.0.1: Shopify's toxiproxy, run in process. The fault
// tests use it to partition one runner from the database while the others
// keep their connections.
package netfault

import (
	"context"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy forwards 127.0.0.1:port to an upstream address.
type Proxy struct {
	// Addr is where clients connect instead of the upstream.
	Addr string

	p      *toxiproxy.Proxy
	drains sync.WaitGroup // blackholes removed from live connections, draining
}

// New starts a proxy to upstream on a free port of 127.0.0.1.
func New(name, upstream string) (*Proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("netfault: start proxy to %s: %w", upstream, err)
	}
	return &Proxy{Addr: p.Listen, p: p}, nil
}

// Close stops the proxy, closes every connection through it and waits for
// the goroutines that Heal left draining broken connections.
func (p *Proxy) Close() {
	p.p.Stop()
	p.drains.Wait()
}

func (p *Proxy) add(name, kind, stream, attrs string) (*toxics.ToxicWrapper, error) {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, name, kind, stream, attrs)
	w, err := p.p.Toxics.AddToxicJson(strings.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("netfault: add %s toxic: %w", kind, err)
	}
	return w, nil
}

// Blackhole stops all data in both directions while connections stay open,
// as a partition does: calls hang until their own timeouts.
func (p *Proxy) Blackhole() error {
	for _, stream := range []string{"upstream", "downstream"} {
		w, err := p.add("blackhole_"+stream, blackholeType, stream, `{}`)
		if err != nil {
			return err
		}
		w.Toxic.(*blackhole).drains = &p.drains
	}
	return nil
}

const blackholeType = "soloist_blackhole"

func init() { toxics.Register(blackholeType, new(blackhole)) }

// blackhole drops every byte, as toxiproxy's timeout toxic with timeout 0
// does, and breaks the connection when it is removed. It differs in what
// happens then: the timeout toxic closes its stream and returns, so when more
// data arrives the stage before it blocks forever on a send that nobody
// receives, a goroutine that outlives the proxy. blackhole goes on receiving,
// and dropping, until that stage closes, which it does when the connection's
// source ends.
type blackhole struct {
	drains *sync.WaitGroup // set by Blackhole before any Cleanup
}

func (*blackhole) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
		}
	}
}

// Cleanup runs when Heal removes the toxic from a live connection.
func (b *blackhole) Cleanup(stub *toxics.ToxicStub) {
	stub.Close()
	b.drains.Go(func() {
		for range stub.Input {
		}
	})
}

// Reset resets every connection (TCP RST) as soon as data flows, as a
// crashed middlebox or a restarted peer does.
func (p *Proxy) Reset() error {
	_, err := p.add("reset", "reset_peer", "upstream", `{"timeout":0}`)
	return err
}

// Latency delays data in each direction by ms milliseconds, with jitter: a
// slow link.
func (p *Proxy) Latency(ms, jitterMs int) error {
	attrs := fmt.Sprintf(`{"latency":%d,"jitter":%d}`, ms, jitterMs)
	if _, err := p.add("latency_up", "latency", "upstream", attrs); err != nil {
		return err
	}
	_, err := p.add("latency_down", "latency", "downstream", attrs)
	return err
}

// Heal removes every fault. Connections a fault broke stay broken; new ones
// work.
func (p *Proxy) Heal() {
	p.p.Toxics.ResetToxics(context.Background())
}
