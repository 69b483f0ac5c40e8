import 'reflect-metadata';
import * as http from 'node:http';
import * as net from 'node:net';
import { passGate } from './gate';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';

/** A test HTTP server: `/` ok, `/slow?ms=N`, `/gated?ms=N` (waits for the gate, see `closeGate` in ./gate, then N ms), `/throw`, `/reject` (async throw), `/hang` (never answers), `/swapped` (replaces the response's prototype, as Express 5 does). */
@UsePool(HttpConnectionPool)
export class TestHttpServer extends HttpServer {
  readonly calls: string[] = [];
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void | Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/slow') {
      const timer = setTimeout(() => res.end(`slow ${url.searchParams.get('ms')}`), Number(url.searchParams.get('ms') ?? 0));
      res.once('close', () => clearTimeout(timer));
      return;
    }
    if (url.pathname === '/gated') {
      const ms = Number(url.searchParams.get('ms') ?? 0);
      let timer: NodeJS.Timeout | undefined;
      let closed = false;
      res.once('close', () => {
        closed = true;
        clearTimeout(timer);
      });
      void passGate().then(() => {
        if (!closed) timer = setTimeout(() => res.end(`gated ${ms}`), ms);
      });
      return;
    }
    if (url.pathname === '/throw') throw new Error('boom');
    if (url.pathname === '/reject') return Promise.reject(new Error('async boom'));
    if (url.pathname === '/hang') return;
    if (url.pathname === '/swapped') {
      // What Express 5 does to every response: a new prototype chain that skips the server's own class.
      Object.setPrototypeOf(res, Object.create(http.ServerResponse.prototype));
      res.end('swapped');
      return;
    }
    if (url.pathname === '/fail') {
      res.statusCode = 502;
      res.end('bad gateway');
      return;
    }
    res.end('ok');
  }

  onInit(): void {
    this.calls.push('onInit');
  }
  onReady(): void {
    this.calls.push('onReady');
  }
  beforeShutdown(): void {
    this.calls.push('beforeShutdown');
  }
  onShutdown(): void {
    this.calls.push('onShutdown');
  }
}

/** Response of `request`. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One GET with `node:http`; rejects on socket errors. */
export function request(port: number, path = '/', options: { agent?: http.Agent | false; headers?: http.OutgoingHttpHeaders } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: options.agent ?? false, headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Opens a raw TCP connection and resolves once connected. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the socket is closed by the peer (or errors), with everything it received. */
export function readUntilClose(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (data += c));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(data));
  });
}

/** Polls `check` every few ms until it is true; fails after `timeoutMs` (a generous bound, not a timing assumption). */
export async function waitFor(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
