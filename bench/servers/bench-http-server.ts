import type * as http from 'node:http';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, HttpsConnectionPool, HttpsPoolConfig, HttpsServer, PoolConfig, UsePool } from '../../src';
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

/** The bench handler in a unipool `HttpsServer` (section `https`). */
@UsePool(HttpsConnectionPool)
export class BenchHttpsServer extends HttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    benchHandler(req, res);
  }
}
