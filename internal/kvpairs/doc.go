// Package kvpairs implements the wire grammar shared by the bearer-token
// SASL mechanisms XOAUTH2 and OAUTHBEARER:
//
//   - the key/value pairs of RFC 7628 §3.1, each "key=value" followed by the
//     separator 0x01 (kvsep), the list closed by one more 0x01:
//
//     kvsep  = %x01
//     key    = 1*(ALPHA)
//     value  = *(VCHAR / SP / HTAB / CR / LF )
//     kvpair = key "=" value kvsep
//
//   - the "Bearer" credentials they carry in auth= (RFC 6750 §2.1):
//
//     credentials = "Bearer" 1*SP b64token
//     b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
//   - the JSON error object a server sends as its failure challenge (RFC 7628
//     §3.2.2, and Google's and Microsoft's XOAUTH2 documentation).
//
// Parsers never panic, the Scanner does not copy, and faults are reported
// with errors whose text never quotes the input, which may carry a token.
package kvpairs
