import type * as http from 'node:http';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { benchHandler } from './handlers';

/** The bench handler in a unipool `HttpServer` (section `http`). */
@UsePool(HttpConnectionPool)
export class BenchHttpServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    benchHandler(req, res);
  }
}
