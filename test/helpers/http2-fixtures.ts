import 'reflect-metadata';
import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { passGate } from './gate';
import { Http2ConnectionPool, Http2PoolConfig, Http2Server, PoolConfig, UsePool } from '../../src';

type Req = IncomingMessage | http2.Http2ServerRequest;
type Res = ServerResponse | http2.Http2ServerResponse;

/** The HTTP/2 server of the tests: `/` -> `hello h2` or `hello h1`; `/slow?ms=N`; `/gated?ms=N` (see ./gate); `/hang`; `/throw`. */
@UsePool(Http2ConnectionPool)
export class TestHttp2Server extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }

  handle(req: Req, res: Res): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const ms = Number(url.searchParams.get('ms') ?? 0);
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    res.once('close', () => {
      closed = true;
      clearTimeout(timer);
    });
    switch (url.pathname) {
      case '/slow':
        timer = setTimeout(() => res.end(`slow ${ms}`), ms);
        return;
      case '/gated':
        void passGate().then(() => {
          if (!closed) timer = setTimeout(() => res.end(`gated ${ms}`), ms);
        });
        return;
      case '/hang':
        return;
      case '/throw':
        throw new Error('boom');
      default:
        res.end(`hello h${req.httpVersionMajor}`);
    }
  }
}

/** What an HTTP/2 request got back. */
export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** One request on `session`; resolves with status, headers and body, rejects on a stream error. */
export function h2request(session: http2.ClientHttp2Session, path: string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let headers: http2.IncomingHttpHeaders = {};
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (headers = h));
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body }));
    req.on('error', reject);
  });
}

/** A node HTTP/2 client session trusting `ca` (TLS) or cleartext (`h2c`); errors are kept, not thrown. */
export function connect(port: number, options: { ca?: string | string[]; h2c?: boolean } = {}): Promise<http2.ClientHttp2Session> {
  const authority = options.h2c ? `http://127.0.0.1:${port}` : `https://localhost:${port}`;
  const session = http2.connect(authority, options.h2c ? {} : { ca: options.ca, host: '127.0.0.1', servername: 'localhost' });
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
    session.once('close', () => reject(new Error('session closed before SETTINGS')));
  });
}

/** Resolves once `session` has closed. */
export function closed(session: http2.ClientHttp2Session): Promise<void> {
  if (session.closed && session.destroyed) return Promise.resolve();
  return new Promise((resolve) => session.once('close', () => resolve()));
}

/** Runs a command; resolves with its exit code, stdout and stderr (never rejects). */
export function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------- a raw HTTP/2 peer (h2c) for shapes real clients never send

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7 } as const;

/** One frame as read off the wire. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK for a GET of `path`: indexed `:method GET` and `:scheme http`, `:path` and `:authority` as literals without indexing. */
function getHeaderBlock(path: string): Buffer {
  const literal = (nameIndex: number, value: string): Buffer => Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value)]);
  return Buffer.concat([Buffer.from([0x82, 0x86]), literal(0x04, path), literal(0x01, 'localhost')]);
}

/**
 * A cleartext HTTP/2 peer that writes frames itself: preface and SETTINGS, then whatever the
 * test sends. It acks the server's SETTINGS, answers nothing else (no PING ack) unless told to,
 * and keeps every frame it reads.
 */
export class RawH2Peer {
  readonly frames: Frame[] = [];
  readonly socket: net.Socket;
  private buffer = Buffer.alloc(0);
  closed = false;
  /** Called with each frame as it is read, before the peer's own answers (SETTINGS ack, PING ack). */
  onFrame: ((f: Frame) => void) | undefined;
  /** Whether to answer PING (a live peer); off by default (a silent one). */
  answerPings = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static open(port: number): Promise<RawH2Peer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        const peer = new RawH2Peer(socket);
        socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
        resolve(peer);
      });
      socket.once('error', reject);
    });
  }

  private read(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 9) {
      const length = this.buffer.readUIntBE(0, 3);
      if (this.buffer.length < 9 + length) return;
      const f: Frame = { type: this.buffer[3], flags: this.buffer[4], stream: this.buffer.readUInt32BE(5) & 0x7fffffff, payload: this.buffer.subarray(9, 9 + length) };
      this.buffer = this.buffer.subarray(9 + length);
      this.frames.push(f);
      this.onFrame?.(f);
      if (f.type === FRAME.PING && (f.flags & 1) === 0 && this.answerPings && !this.socket.destroyed) this.socket.write(frame(FRAME.PING, 1, 0, Buffer.from(f.payload)));
      if (f.type === FRAME.SETTINGS && (f.flags & 1) === 0 && !this.socket.destroyed) this.socket.write(frame(FRAME.SETTINGS, 1, 0));
    }
  }

  /** HEADERS (END_STREAM, END_HEADERS) of a GET of `path` on stream `id`. */
  get(id: number, path: string): Buffer {
    return frame(FRAME.HEADERS, 0x5, id, getHeaderBlock(path));
  }

  /** RST_STREAM of stream `id` with `code` (8: CANCEL). */
  reset(id: number, code = 8): Buffer {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(code);
    return frame(FRAME.RST_STREAM, 0, id, payload);
  }

  write(...frames: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames));
  }

  /** GOAWAY frames read so far: last stream id and error code of each. */
  goaways(): Array<{ lastStreamId: number; code: number }> {
    return this.frames.filter((f) => f.type === FRAME.GOAWAY).map((f) => ({ lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) }));
  }

  /** The server's SETTINGS (not the ack), as id -> value. */
  settings(): Map<number, number> {
    const out = new Map<number, number>();
    for (const f of this.frames) {
      if (f.type !== FRAME.SETTINGS || (f.flags & 1) !== 0) continue;
      for (let i = 0; i + 6 <= f.payload.length; i += 6) out.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
    }
    return out;
  }

  /** RST_STREAM frames read so far: stream and error code of each. */
  resets(): Array<{ stream: number; code: number }> {
    return this.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => ({ stream: f.stream, code: f.payload.readUInt32BE(0) }));
  }

  /** Streams the server answered with HEADERS. */
  answered(): number[] {
    return this.frames.filter((f) => f.type === FRAME.HEADERS).map((f) => f.stream);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
