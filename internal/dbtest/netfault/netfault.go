// Package netfault puts a TCP proxy with injectable faults between a client
// and a server on 127.0.0.1: Shopify's toxiproxy, run in process. The fault
// tests use it to partition one runner from the database while the others
// keep their connections.
package netfault

import (
	"context"
	"fmt"
	"strings"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy forwards 127.0.0.1:port to an upstream address.
type Proxy struct {
	// Addr is where clients connect instead of the upstream.
	Addr string

	p *toxiproxy.Proxy
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

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() { p.p.Stop() }

func (p *Proxy) add(name, kind, stream, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, name, kind, stream, attrs)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		return fmt.Errorf("netfault: add %s toxic: %w", kind, err)
	}
	return nil
}

// Blackhole stops all data in both directions while connections stay open,
// as a partition does: calls hang until their own timeouts.
func (p *Proxy) Blackhole() error {
	if err := p.add("blackhole_up", "timeout", "upstream", `{"timeout":0}`); err != nil {
		return err
	}
	return p.add("blackhole_down", "timeout", "downstream", `{"timeout":0}`)
}

// Reset resets every connection (TCP RST) as soon as data flows, as a
// crashed middlebox or a restarted peer does.
func (p *Proxy) Reset() error {
	return p.add("reset", "reset_peer", "upstream", `{"timeout":0}`)
}

// Latency delays data in each direction by ms milliseconds, with jitter: a
// slow link.
func (p *Proxy) Latency(ms, jitterMs int) error {
	attrs := fmt.Sprintf(`{"latency":%d,"jitter":%d}`, ms, jitterMs)
	if err := p.add("latency_up", "latency", "upstream", attrs); err != nil {
		return err
	}
	return p.add("latency_down", "latency", "downstream", attrs)
}

// Heal removes every fault. Connections a fault broke stay broken; new ones
// work.
func (p *Proxy) Heal() {
	p.p.Toxics.ResetToxics(context.Background())
}
