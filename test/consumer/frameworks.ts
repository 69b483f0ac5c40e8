import 'reflect-metadata';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import type { RawData, WebSocket } from 'ws';
import { createApp, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool, WebSocketConnectionPool, WebSocketServer } from 'unipool';

// An Express app, a Koa app and a Fastify app, each on its own unipool HTTP server, and a
// WebSocket echo attached to the first HTTP server's port (`ws.attachTo: "http"`), the way a
// user of the packed library writes them. The consumer test drives them with curl and Python's
// websockets and reads the pools' figures from the admin endpoint's /status.
const expressApp = express();
expressApp.get('/hello', (_req, res) => {
  res.send('hello from express');
});

const koaApp = new Koa();
koaApp.use((ctx) => {
  ctx.body = 'hello from koa';
});
const koaHandler = koaApp.callback();

class KoaPool extends HttpConnectionPool {}

/** Fastify's own pool, as in the README's Fastify section. */
class FastifyPool extends HttpConnectionPool {}

@UsePool(HttpConnectionPool)
class ExpressServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(req: IncomingMessage, res: ServerResponse) {
    expressApp(req, res);
  }
}

@UsePool(KoaPool)
class KoaServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(req: IncomingMessage, res: ServerResponse) {
    return koaHandler(req, res);
  }
}

// The README's Fastify 5 section: Fastify runs on the unipool server through serverFactory.
@UsePool(FastifyPool)
class FastifyServer extends HttpServer<FastifyPool> {
  declare handle: RequestListener;
  readonly fastify = Fastify({ serverFactory: this.serverFactory }).get('/', async () => 'hello from fastify');

  async onInit(): Promise<void> {
    await this.fastify.ready();
  }

  async onShutdown(): Promise<void> {
    await this.fastify.close();
  }
}

// REST and /ws on one port: this server reads `ws` ({ "attachTo": "http" }).
@UsePool(WebSocketConnectionPool)
class EchoServer extends WebSocketServer {
  onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void {
    this.send(socket, data as Buffer, isBinary);
  }
}

const app = createApp({ servers: [ExpressServer, KoaServer, FastifyServer, EchoServer] });
app.start().catch(() => process.exit(1));
