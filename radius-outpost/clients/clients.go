// Package clients maps a RADIUS client's address to the provider that serves
// it: the provider with the longest prefix in its client_networks that
// contains the address, across every provider of the outpost.
//
// authentik sorts the candidate networks by the total mask length (32 or
// 128) instead of the prefix length, so "longest prefix wins" never
// happens and the first provider in name order wins (#22853). Here the
// prefix length decides; between equal prefixes of two providers, the one
// listed first wins, which is the core's name order.
package clients

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ErrNoNetworks is returned for a client_networks value without any network.
var ErrNoNetworks = errors.New("no client networks")

// ParseNetworks parses a client_networks value: comma-separated CIDRs or
// bare addresses (taken as /32 or /128), with spaces around them allowed.
// Empty items are skipped. The prefixes are returned masked
// (10.1.2.3/8 becomes 10.0.0.0/8); IPv4-mapped IPv6 prefixes become IPv4.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parseOne(item)
		if err != nil {
			return nil, fmt.Errorf("client network %q: %w", item, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, ErrNoNetworks
	}
	return out, nil
}

func parseOne(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a := p.Addr()
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, errors.New("IPv4-mapped prefix shorter than /96")
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}

// Table finds the provider for a client address. It is immutable and safe
// for concurrent use; build a new one when providers change.
type Table struct {
	// lengths holds, longest first, every prefix length in use, each with
	// its prefixes; a lookup tries each length once, so it costs at most
	// one map lookup per distinct length (at most 33 + 129).
	lengths []level
}

type level struct {
	bits int
	is4  bool
	nets map[netip.Prefix]int
}

// Networks is one provider's networks, identified by its index in the list
// passed to NewTable.
type Networks []netip.Prefix

// NewTable builds a table. providers[i] are the networks of provider i;
// Lookup returns i.
func NewTable(providers []Networks) *Table {
	var t Table
	find := func(bits int, is4 bool) *level {
		for i := range t.lengths {
			if t.lengths[i].bits == bits && t.lengths[i].is4 == is4 {
				return &t.lengths[i]
			}
		}
		t.lengths = append(t.lengths, level{bits: bits, is4: is4, nets: map[netip.Prefix]int{}})
		return &t.lengths[len(t.lengths)-1]
	}
	for i, nets := range providers {
		for _, p := range nets {
			p = p.Masked()
			l := find(p.Bits(), p.Addr().Is4())
			if _, taken := l.nets[p]; !taken {
				l.nets[p] = i
			}
		}
	}
	slices.SortStableFunc(t.lengths, func(a, b level) int { return b.bits - a.bits })
	return &t
}

// Lookup returns the provider whose network is the longest prefix
// containing addr, or false when none does. IPv4-mapped IPv6 addresses are
// looked up as IPv4.
func (t *Table) Lookup(addr netip.Addr) (int, bool) {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return 0, false
	}
	is4 := addr.Is4()
	for _, l := range t.lengths {
		if l.is4 != is4 {
			continue
		}
		p, err := addr.Prefix(l.bits)
		if err != nil {
			continue
		}
		if i, ok := l.nets[p]; ok {
			return i, true
		}
	}
	return 0, false
}
