import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { expressApp } from './express-app'; // any Express 5 app: express(), your routes and error handlers

/** Express's own pool, so `/status` and `/metrics` show its figures apart (`HttpConnectionPool` itself works too). */
export class ExpressPool extends HttpConnectionPool {}

@UsePool(ExpressPool)
export class ExpressServer extends HttpServer {
  handle = expressApp; // the app is the handler: every request is admitted, counted, timed and drained

  constructor(@PoolConfig(HttpPoolConfig, 'express') config: HttpPoolConfig) {
    super(config);
  }
}
