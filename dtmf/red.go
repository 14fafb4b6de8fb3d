package dtmf

import (
	"encoding/binary"
	"time"
)

// maxRedBlocks bounds the redundant blocks of one RFC 2198 payload. RFC 4733
// senders use at most 2; more than this is treated as malformed.
const maxRedBlocks = 15

// redBlock is one block of an RFC 2198 payload.
type redBlock struct {
	pt         uint8
	offset     uint32 // timestamp offset: the block's timestamp is RTP ts - offset
	start, end int    // the block's data in the payload
}

// ReceiveRED feeds one RFC 2198 (audio/red) packet: the blocks whose payload
// type is eventPT are fed as telephone-event payloads, oldest (largest
// timestamp offset) first and the primary block last, each at timestamp
// RTP timestamp - offset and with the packet's sequence number. Blocks of
// other payload types (audio, comfort noise) and empty blocks are skipped.
// Only the primary block carries the marker bit.
//
// Block headers are F(1) PT(7) offset(14) length(10), the last one F=0
// PT(7). Truncated headers, more than 15 redundant blocks or lengths past
// the end return ErrBadRedundancy; an event block whose length is not a
// multiple of 4 returns ErrShortPayload; either way nothing changes.
func (r *Receiver) ReceiveRED(p Packet, eventPT uint8, now time.Time, dst []Event) ([]Event, error) {
	var blocks [maxRedBlocks + 1]redBlock
	n, err := parseRED(p.Payload, &blocks)
	if err == nil {
		err = checkEventBlocks(blocks[:n], eventPT)
	}
	if err != nil {
		r.stats.Malformed++
		return dst, err
	}
	sortRedundant(blocks[:n-1])
	dst = r.begin(p.SSRC, now, dst)
	for i := range blocks[:n] {
		b := &blocks[i]
		if b.pt != eventPT {
			continue
		}
		primary := i == n-1
		dst = r.feed(p.Payload[b.start:b.end], p.Timestamp-b.offset, p.SequenceNumber, p.Marker && primary, now, dst)
	}
	return dst, nil
}

// parseRED splits an RFC 2198 payload into blocks, the primary last, and
// returns how many there are.
func parseRED(pl []byte, blocks *[maxRedBlocks + 1]redBlock) (int, error) {
	n, i := 0, 0
	for {
		if i >= len(pl) {
			return 0, ErrBadRedundancy // no final header
		}
		if pl[i]&0x80 == 0 {
			blocks[n] = redBlock{pt: pl[i] & 0x7F}
			n++
			i++
			break
		}
		if i+4 > len(pl) || n == maxRedBlocks {
			return 0, ErrBadRedundancy
		}
		h := binary.BigEndian.Uint32(pl[i:])
		blocks[n] = redBlock{
			pt:     uint8(h>>24) & 0x7F,
			offset: h >> 10 & 0x3FFF,
			end:    int(h & 0x3FF), // the length, for now
		}
		n++
		i += 4
	}
	for k := 0; k < n-1; k++ {
		length := blocks[k].end
		if length > len(pl)-i {
			return 0, ErrBadRedundancy
		}
		blocks[k].start, blocks[k].end = i, i+length
		i += length
	}
	blocks[n-1].start, blocks[n-1].end = i, len(pl)
	return n, nil
}

// checkEventBlocks checks the length of every non-empty event block.
func checkEventBlocks(blocks []redBlock, eventPT uint8) error {
	for _, b := range blocks {
		if b.pt == eventPT && (b.end-b.start)%4 != 0 {
			return ErrShortPayload
		}
	}
	return nil
}

// sortRedundant orders redundant blocks oldest (largest offset) first,
// keeping the packet order among equal offsets.
func sortRedundant(b []redBlock) {
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j].offset > b[j-1].offset; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
}
