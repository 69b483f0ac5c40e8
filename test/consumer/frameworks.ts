import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import Koa from 'koa';
import { createApp, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from 'unipool';

// An Express app and a Koa app, each the handler of its own unipool HTTP server, the way a
// user of the packed library writes them. The consumer test drives them with curl and reads
// the pools' figures from the admin endpoint's /status.
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

const app = createApp({ servers: [ExpressServer, KoaServer] });
app.start().catch(() => process.exit(1));
