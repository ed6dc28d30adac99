/**
 * Datum batching (a pipeline's `transform.datumBatching`): one process serves many datums, asking the worker for
 * each with Pachyderm's `Worker.NextDatum` call, a gRPC unary call on 127.0.0.1:$PPS_WORKER_GRPC_PORT. The
 * request says how the last datum ended (`error`, empty when it succeeded); the answer, once the next datum's
 * files are in place, is its whole environment (`KEY=VALUE` strings). The worker ends the process when no datum
 * is left. Pachyderm's worker and the embedded engine (engine/worker/batch-executor.ts) answer the same call, so a stage is
 * one loop for both.
 *
 * gRPC on HTTP/2 (node:http2, cleartext, as on the pod's loopback): each message is one byte of compression flag,
 * four of big-endian length, then the protobuf. Both messages have one string field, number 1.
 */
import { connect, type ClientHttp2Session } from 'node:http2';

export const NEXT_DATUM_PATH = '/pachyderm.worker.Worker/NextDatum';

/**
 * Whether this process was started for datum batching: a worker port is given and no datum yet (without
 * batching, Pachyderm and the engine start the user code with the datum's variables, PACH_DATUM_ID among them).
 */
export function batchingPort(env: Record<string, string | undefined> = process.env): number | undefined {
  const port = Number(env.PPS_WORKER_GRPC_PORT);
  if (!env.PPS_WORKER_GRPC_PORT || !Number.isInteger(port) || port <= 0 || env.PACH_DATUM_ID) return undefined;
  return port;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** Protobuf bytes of a message whose field 1 is a (repeated) string. */
export function encodeStrings(values: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    const bytes = Buffer.from(v, 'utf8');
    parts.push(Buffer.from([0x0a, ...varint(bytes.length)]), bytes);
  }
  return Buffer.concat(parts);
}

/** The values of field 1 (a string) of a protobuf message; other fields are skipped. */
export function decodeStrings(buf: Uint8Array): string[] {
  const out: string[] = [];
  let i = 0;
  const readVarint = () => {
    let n = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated protobuf varint');
      const b = buf[i++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = readVarint();
    const wire = key & 7;
    if (wire === 0) readVarint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = readVarint();
      if (i + len > buf.length) throw new Error('truncated protobuf field');
      if (key >>> 3 === 1) out.push(Buffer.from(buf.subarray(i, i + len)).toString('utf8'));
      i += len;
    } else throw new Error(`protobuf wire type ${wire} is not supported`);
  }
  return out;
}

/** One gRPC message frame (uncompressed). */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The first message of a gRPC body. */
export function unframe(body: Buffer): Buffer {
  if (body.length < 5) throw new Error(`a gRPC message needs 5 bytes of header, got ${body.length}`);
  if (body[0] !== 0) throw new Error('compressed gRPC messages are not supported');
  const len = body.readUInt32BE(1);
  if (body.length < 5 + len) throw new Error(`a gRPC message of ${len} bytes was cut at ${body.length - 5}`);
  return body.subarray(5, 5 + len);
}

/** `KEY=VALUE` strings as a record (a value may hold '='). */
export function parseEnvList(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of list) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return env;
}

let serving = false;

/** Whether this process serves datum after datum (set by the stage frame before its first datum). */
export function servesManyDatums(): boolean {
  return serving;
}

export function markServing(): void {
  serving = true;
}

/** The client side: one HTTP/2 connection, one call per datum. */
export class NextDatumClient {
  private session: ClientHttp2Session | undefined;

  constructor(private readonly port: number) {}

  /** Ends the last datum (with `error` when it failed) and resolves with the next one's environment. */
  next(error = ''): Promise<Record<string, string>> {
    if (!this.session || this.session.closed || this.session.destroyed) {
      this.session = connect(`http://127.0.0.1:${this.port}`);
      this.session.on('error', () => undefined); // reported by the call below
    }
    const session = this.session;
    return new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': NEXT_DATUM_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const takeStatus = (h: Record<string, unknown>) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      req.on('response', takeStatus);
      req.on('trailers', takeStatus);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', (e) => reject(new Error(`NextDatum on 127.0.0.1:${this.port} failed: ${e.message}`)));
      req.on('end', () => {
        if (status !== '0') {
          reject(new Error(`NextDatum on 127.0.0.1:${this.port} answered gRPC status ${status ?? '?'}: ${message}`));
          return;
        }
        try {
          resolve(parseEnvList(decodeStrings(unframe(Buffer.concat(chunks)))));
        } catch (e) {
          reject(e as Error);
        }
      });
      req.end(frame(encodeStrings(error ? [error] : [])));
    });
  }

  close(): void {
    this.session?.close();
  }
}
