/**
 * The worker's side of Pachyderm's NextDatum call (shared/next-datum.ts) on a loopback port: a batching process
 * asks for its next datum, reporting how the last one ended; the call is answered with the datum's variables.
 */
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { decodeStrings, encodeStrings, frame, NEXT_DATUM_PATH, unframe } from '../../shared/next-datum.js';

/** A call of the process: the stream to answer with the next datum, and how the last one ended. */
export interface Call {
  stream: ServerHttp2Stream;
  error: string;
}

/** The worker's side of NextDatum on a loopback port: one call at a time, answered when the next datum is ready. */
export class NextDatumServer {
  private server: Http2Server | undefined;
  private port = 0;
  private callWaiter: ((c: Call) => void) | undefined;

  /** The next call (set up before the process can make it). */
  nextCall(): Promise<Call> {
    return new Promise((resolve) => {
      this.callWaiter = resolve;
    });
  }

  /** Listens on 127.0.0.1 (once); resolves with the port. */
  async listen(): Promise<number> {
    if (this.server) return this.port;
    const server = createServer();
    server.on('stream', (stream, headers) => {
      if (headers[':path'] !== NEXT_DATUM_PATH) return refuse(stream, `unknown method ${headers[':path']}`, 12);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', () => undefined);
      stream.on('end', () => {
        let error: string;
        try {
          error = decodeStrings(unframe(Buffer.concat(chunks)))[0] ?? '';
        } catch (e) {
          return refuse(stream, (e as Error).message, 3);
        }
        const waiter = this.callWaiter;
        if (!waiter) return refuse(stream, 'NextDatum is already waiting for a datum', 9);
        this.callWaiter = undefined;
        // after this turn of the event loop: output the process wrote before calling is in the datum's log
        setImmediate(() => waiter({ stream, error }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.on('error', () => undefined);
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export function answer(stream: ServerHttp2Stream, env: string[]): void {
  if (stream.destroyed) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(frame(encodeStrings(env)));
}

/** A trailers-only gRPC error (status 10, ABORTED, unless given). */
export function refuse(stream: ServerHttp2Stream, message: string, status = 10): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(status),
      'grpc-message': encodeURIComponent(message),
    },
    { endStream: true },
  );
}
