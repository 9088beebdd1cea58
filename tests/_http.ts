/**
 * HTTP over raw TCP for the server's tests: a request's bytes go out exactly
 * as given (malformed ones too, which fetch would refuse or repair), and the
 * response is parsed here, independently of fetch, as RFC 9112 frames it.
 *
 * @module
 */

/** A response as read off the connection. */
export interface RawResponse {
  /** The status code of the final (non-1xx) response. */
  readonly status: number;
  /** Header names in lower case; repeated headers joined by ", ". */
  readonly headers: ReadonlyMap<string, string>;
  /** The body, de-chunked. */
  readonly body: Uint8Array;
}

/** What came back for one request. */
export interface RawOutcome {
  /** The response, or null when the connection closed (or the time ran out) before a whole one came. */
  readonly response: RawResponse | null;
  /** The time ran out: the server neither answered in full nor closed the connection. */
  readonly timedOut: boolean;
  /** The bytes received, for messages. */
  readonly bytes: Uint8Array;
}

/** A response that is not well-formed HTTP/1.1. */
export class MalformedResponse extends Error {}

const CRLF2 = [13, 10, 13, 10];

function indexOfSeq(b: Uint8Array, seq: number[], from = 0): number {
  outer: for (let i = from; i + seq.length <= b.length; i++) {
    for (let k = 0; k < seq.length; k++) if (b[i + k] !== seq[k]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Parses one response from `b` (after any 1xx interim responses): null when
 * more bytes are needed, or when the body runs to the end of the connection
 * and `ended` is false. Throws MalformedResponse for bytes that are not HTTP.
 */
export function parseResponse(b: Uint8Array, head: boolean, ended: boolean): RawResponse | null {
  let at = 0;
  for (;;) {
    const end = indexOfSeq(b, CRLF2, at);
    if (end < 0) {
      if (ended && b.length > at) throw new MalformedResponse("the connection closed inside the headers");
      return null;
    }
    const lines = new TextDecoder().decode(b.subarray(at, end)).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
    if (!m) throw new MalformedResponse(`status line ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const h = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
      if (!h) throw new MalformedResponse(`header line ${JSON.stringify(line)}`);
      const name = h[1].toLowerCase();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${h[2]}` : h[2]);
    }
    at = end + 4;
    if (status >= 100 && status < 200) continue;
    const rest = b.subarray(at);
    if (head || status === 204 || status === 304) return { status, headers, body: new Uint8Array(0) };
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      const body = dechunk(rest);
      if (!body && ended) throw new MalformedResponse("the connection closed inside the chunked body");
      return body ? { status, headers, body } : null;
    }
    const length = headers.get("content-length");
    if (length !== undefined) {
      if (!/^\d+$/.test(length)) throw new MalformedResponse(`content-length ${JSON.stringify(length)}`);
      const n = Number(length);
      if (rest.length < n) {
        if (ended) throw new MalformedResponse(`the body holds ${rest.length} of its ${n} bytes`);
        return null;
      }
      return { status, headers, body: rest.slice(0, n) };
    }
    return ended ? { status, headers, body: rest.slice() } : null;
  }
}

/** A chunked body, or null when it is not all there yet. */
function dechunk(b: Uint8Array): Uint8Array | null {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const eol = indexOfSeq(b, [13, 10], at);
    if (eol < 0) return null;
    const size = parseInt(new TextDecoder().decode(b.subarray(at, eol)).split(";")[0], 16);
    if (!Number.isFinite(size)) throw new MalformedResponse("a chunk size that is not hexadecimal");
    at = eol + 2;
    if (size === 0) break;
    if (b.length < at + size + 2) return null;
    parts.push(b.subarray(at, at + size));
    at += size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

/**
 * Sends `request` to 127.0.0.1:`port` on a new connection and reads one
 * response: it stops at a whole response, at the end of the connection, or
 * after `timeoutMs`, and closes the connection.
 */
export async function rawRequest(
  port: number,
  request: Uint8Array | string,
  options: { timeoutMs?: number; head?: boolean } = {},
): Promise<RawOutcome> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed already */ }
  }, options.timeoutMs ?? 5000);
  let got = new Uint8Array(0), response: RawResponse | null = null;
  // The server may answer (and close) before it has read the whole request: a failed write is not a failure.
  const written = (async () => {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  })().catch(() => {});
  try {
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        n = null; // reset by the server, or closed by the timer
      }
      if (n !== null) {
        const next = new Uint8Array(got.length + n);
        next.set(got);
        next.set(buf.subarray(0, n), got.length);
        got = next;
      }
      response = parseResponse(got, options.head ?? false, n === null);
      if (response || n === null) break;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed already */ }
    await written;
  }
  return { response, timedOut: timedOut && !response, bytes: got };
}

/** The port of a server's URL. */
export const portOf = (url: string): number => Number(new URL(url).port);
