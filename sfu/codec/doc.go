// Package codec inspects RTP payloads of the video codecs the SFU forwards
// (VP8, VP9, H.264 and AV1) for the few facts the forwarding path needs
// without decoding any media:
//
//   - whether a packet is the first packet of a keyframe, that is a point at
//     which a receiver's decoder can start (KeyframeStart, Kind.KeyframeStart).
//     The forwarder uses this to switch a subscriber between simulcast or
//     spatial layers, and to know when a PLI/FIR it sent has been answered;
//   - the VP8 and VP9 payload descriptors (ParseVP8Descriptor,
//     ParseVP9Descriptor), including the byte offsets of the picture ID and
//     TL0PICIDX fields so that they can be rewritten in place when several
//     simulcast encodings are spliced into one outgoing stream.
//
// Only the RTP payload formats' own headers are read (RFC 7741 for VP8,
// RFC 9628 for VP9, RFC 6184 for H.264 and the AOM "RTP Payload Format for
// AV1" aggregation header), plus the single inverse-keyframe bit of the VP8
// payload header that RFC 7741 designates for this purpose. The media itself
// is never parsed, so the functions keep working on end-to-end encrypted
// streams that leave those headers in the clear.
//
// Every function here runs once per forwarded packet, so they are written to
// be cheap and safe on hostile input:
//
//   - they allocate nothing: results are returned by value, errors are
//     preallocated sentinel values (see errors.go), MIME types are compared
//     with strings.EqualFold rather than by building lowercased copies, and
//     the payload is only read, never copied or retained. Per-packet heap
//     allocations would otherwise add up to a large share of the garbage the
//     server produces and of its GC pauses;
//   - they never panic, whatever the payload: every read is bounds-checked,
//     and a truncated or malformed payload is simply not a keyframe start
//     (or, for the Parse functions, an error);
//   - they do not modify the payload.
//
// Callers that handle many packets of one track should resolve the MIME type
// once with KindOf and then call Kind.KeyframeStart, which avoids comparing
// strings for every packet.
package codec
