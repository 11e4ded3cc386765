// One listener carries HTTP/1.1 (Connect, gRPC-Web, the web gateway) and HTTP/2 with prior knowledge (gRPC,
// Connect over h2c): the first bytes of a connection tell them apart, since only HTTP/2 starts with its preface.
import type { Socket } from "node:net";

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
// Enough bytes to tell "PRI * HTTP/2.0" from every HTTP/1.1 request line.
const SNIFF_BYTES = 4;

/** Calls `decide` once it can tell an HTTP/2 prior-knowledge connection from HTTP/1.1, with the bytes unread. */
export function sniffProtocol(socket: Socket, decide: (isHttp2: boolean) => void): void {
  let held = Buffer.alloc(0);
  const onReadable = () => {
    // Read until null so that the stream asks for 'readable' again when more bytes arrive.
    for (let chunk: Buffer | null = socket.read(); chunk !== null; chunk = socket.read()) {
      held = Buffer.concat([held, chunk]);
    }
    const n = Math.min(held.length, HTTP2_PREFACE.length);
    const matches = held.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
    if (held.length === 0 || (matches && held.length < SNIFF_BYTES)) return; // "P" may still be POST or PUT
    socket.off("readable", onReadable);
    socket.unshift(held);
    decide(matches);
  };
  socket.on("readable", onReadable);
}
