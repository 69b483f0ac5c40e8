import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { koaApp } from './koa-app'; // any Koa 3 app: new Koa() and your middleware

/** Koa's own pool, so `/status` and `/metrics` show its figures apart (`HttpConnectionPool` itself works too). */
export class KoaPool extends HttpConnectionPool {}

@UsePool(KoaPool)
export class KoaServer extends HttpServer {
  handle = koaApp.callback(); // composes the middleware registered so far: register it before the app starts

  constructor(@PoolConfig(HttpPoolConfig, 'koa') config: HttpPoolConfig) {
    super(config);
  }
}
